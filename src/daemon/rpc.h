/*
 * libvirt RPC framing: the 4-byte length word (which counts itself), the
 * 24-byte header, and the remote_error body of failed calls.
 */
#ifndef VIREO_DAEMON_RPC_H
#define VIREO_DAEMON_RPC_H

#include <stdint.h>

#include "daemon/virerr.h"
#include "daemon/xdr.h"

struct rpc_header {
	uint32_t prog;
	uint32_t vers;
	int32_t proc;
	uint32_t type;		/* enum vir_net_type */
	uint32_t serial;
	uint32_t status;	/* enum vir_net_status */
};

/* Largest whole frame, length word included. */
#define RPC_FRAME_MAX	(VIR_NET_MESSAGE_LEN_MAX + VIR_NET_MESSAGE_MAX)
/* Smallest: length word and header. */
#define RPC_FRAME_MIN	(VIR_NET_MESSAGE_LEN_MAX + VIR_NET_MESSAGE_HEADER_MAX)

/*
 * Validate a frame's length word (big-endian, first 4 bytes): 0 and the
 * total frame length, or -EMSGSIZE when out of libvirt's bounds.
 */
int rpc_frame_length(const uint8_t word[4], uint32_t *len);
/* Decode the header at the reader's position; 0 or -EBADMSG. */
int rpc_decode_header(struct xdr_reader *r, struct rpc_header *h);
/* Start a frame in an empty writer: length placeholder and header. */
void rpc_begin_frame(struct xdr_writer *w, const struct rpc_header *h);
/* Patch the length word; 0, or -EMSGSIZE if the writer overflowed. */
int rpc_end_frame(struct xdr_writer *w);
/* Append a remote_error built from err. */
void rpc_put_error(struct xdr_writer *w, const struct vir_error *err);
/* A complete error reply frame to call h, into an empty writer. */
int rpc_error_frame(struct xdr_writer *w, const struct rpc_header *call,
		    const struct vir_error *err);

#endif
