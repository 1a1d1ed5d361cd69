/* libvirt RPC framing and error bodies (see rpc.h). */
#include "daemon/rpc.h"

#include <errno.h>

#include "daemon/protocol.h"

int rpc_frame_length(const uint8_t word[4], uint32_t *len)
{
	uint32_t n = (uint32_t)word[0] << 24 | (uint32_t)word[1] << 16 |
		     (uint32_t)word[2] << 8 | word[3];

	if (n < RPC_FRAME_MIN || n > RPC_FRAME_MAX)
		return -EMSGSIZE;
	*len = n;
	return 0;
}

int rpc_decode_header(struct xdr_reader *r, struct rpc_header *h)
{
	if (xdr_get_u32(r, &h->prog) || xdr_get_u32(r, &h->vers) ||
	    xdr_get_i32(r, &h->proc) || xdr_get_u32(r, &h->type) ||
	    xdr_get_u32(r, &h->serial) || xdr_get_u32(r, &h->status))
		return -EBADMSG;
	return 0;
}

void rpc_begin_frame(struct xdr_writer *w, const struct rpc_header *h)
{
	xdr_put_u32(w, 0);
	xdr_put_u32(w, h->prog);
	xdr_put_u32(w, h->vers);
	xdr_put_i32(w, h->proc);
	xdr_put_u32(w, h->type);
	xdr_put_u32(w, h->serial);
	xdr_put_u32(w, h->status);
}

int rpc_end_frame(struct xdr_writer *w)
{
	if (!xdr_writer_ok(w) || w->len > RPC_FRAME_MAX)
		return -EMSGSIZE;
	xdr_patch_u32(w, 0, w->len);
	return 0;
}

void rpc_put_error(struct xdr_writer *w, const struct vir_error *err)
{
	xdr_put_i32(w, err->code ? err->code : VIR_ERR_INTERNAL_ERROR);
	xdr_put_i32(w, err->domain ? err->domain : VIR_FROM_REMOTE);
	xdr_put_string_opt(w, err->message[0] ? err->message :
			   "internal error: unknown failure");
	xdr_put_i32(w, VIR_ERR_ERROR);
	xdr_put_u32(w, 0);		/* dom: absent */
	xdr_put_string_opt(w, NULL);	/* str1 */
	xdr_put_string_opt(w, NULL);	/* str2 */
	xdr_put_string_opt(w, NULL);	/* str3 */
	xdr_put_i32(w, -1);		/* int1 */
	xdr_put_i32(w, -1);		/* int2 */
	xdr_put_u32(w, 0);		/* net: absent */
}

int rpc_error_frame(struct xdr_writer *w, const struct rpc_header *call,
		    const struct vir_error *err)
{
	struct rpc_header h = *call;

	h.type = VIR_NET_REPLY;
	h.status = VIR_NET_ERROR;
	rpc_begin_frame(w, &h);
	rpc_put_error(w, err);
	return rpc_end_frame(w);
}
