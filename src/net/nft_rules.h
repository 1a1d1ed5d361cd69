/*
 * A network's firewall: one nftables table of vireo's own per network
 * (family ip, named after the bridge), so starting and stopping a network
 * adds and deletes exactly its rules and never touches anybody else's.
 *
 *   nat:      guests reach out (forwarded, masqueraded); replies come back
 *   route:    the same without masquerading
 *   none:     isolated: nothing is forwarded to or from the bridge
 *   bridge:   the host's bridge: no table at all
 */
#ifndef VIREO_NET_NFT_RULES_H
#define VIREO_NET_NFT_RULES_H

#include <stddef.h>

#include "net/net_def.h"

#define NFT_TABLE_MAX 32

/* "vireo_<bridge>" with characters nft does not take in names as '_'. */
void nft_table_name(const char *bridge, char out[NFT_TABLE_MAX]);
/*
 * An `nft -f` script that (re)creates the table atomically: it declares
 * the table, deletes it and adds it afresh in one transaction. malloc'd;
 * NULL if out of memory.
 */
char *nft_ruleset(const struct net_def *def);
/* The script that deletes the table (malloc'd). */
char *nft_delete_script(const struct net_def *def);

#endif
