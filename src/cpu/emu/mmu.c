/*
 * The emulated MMU: segmentation (bases; limits are not checked), paging
 * (32-bit, PAE and 4-level, with NX, PGE, A/D updates and #PF), and the
 * software TLB that maps a guest-virtual page to a host pointer (RAM) or
 * to a guest-physical page on the MMIO bus.
 *
 * Every emulator write to RAM checks the shared code map, so a store over
 * decoded instructions invalidates them (self-modifying code, text_poke).
 */
#include <string.h>

#include "cpu/emu/emu_internal.h"
#include "hw/lapic.h"
#include "mem/bus.h"
#include "mem/guest_mem.h"

#define PTE_P   0x1ULL
#define PTE_W   0x2ULL
#define PTE_U   0x4ULL
#define PTE_A   0x20ULL
#define PTE_D   0x40ULL
#define PTE_PS  0x80ULL
#define PTE_G   0x100ULL
#define PTE_NX  (1ULL << 63)
#define PHYS_BITS 39
#define ADDR_MASK (((1ULL << PHYS_BITS) - 1) & ~0xFFFULL)

int32_t emu_page_index(const struct emu_shared *sh, uint64_t gpa)
{
	uint64_t base = 0;
	const struct guest_mem *m = sh->mem;

	for (unsigned i = 0; i < m->nr_regions; i++) {
		const struct guest_region *r = &m->region[i];
		if (gpa >= r->gpa && gpa - r->gpa < r->size)
			return (int32_t)((base + gpa - r->gpa) >> 12);
		base += r->size;
	}
	return -1;
}

void emu_code_written(struct emu_shared *sh, int32_t pidx)
{
	if (atomic_exchange(&sh->has_code[pidx], 0)) {
		atomic_fetch_add(&sh->gen[pidx], 1);
		atomic_fetch_add_explicit(&sh->code_writes, 1, memory_order_relaxed);
	}
}

static void tlb_ent_clear(struct tlb_ent *e)
{
	e->tag = 0;
	for (unsigned i = 0; i < 4; i++)
		e->fast[i] = 0;
}

void emu_tlb_flush(struct emu_cpu *c, bool global_too)
{
	c->stats.tlb_flushes++;
	emu_fetch_forget(c, global_too);
	for (unsigned i = 0; i < TLB_SIZE; i++)
		if (global_too || !(c->tlb[i].perm & TP_GLOBAL))
			tlb_ent_clear(&c->tlb[i]);
	for (unsigned i = 0; i < TLB_VICTIMS; i++)
		if (global_too || !(c->tlb_victim[i].perm & TP_GLOBAL))
			tlb_ent_clear(&c->tlb_victim[i]);
}

void emu_tlb_flush_page(struct emu_cpu *c, uint64_t la)
{
	struct tlb_ent *e = &c->tlb[emu_tlb_slot(la)];
	c->stats.tlb_page_flushes++;
	emu_fetch_forget_page(c, la);
	if (e->tag == ((la & ~0xFFFULL) | TLB_VALID))
		tlb_ent_clear(e);
	for (unsigned i = 0; i < TLB_VICTIMS; i++)
		if (c->tlb_victim[i].tag == ((la & ~0xFFFULL) | TLB_VALID))
			tlb_ent_clear(&c->tlb_victim[i]);
}

static __attribute__((noreturn)) void page_fault(struct emu_cpu *c, uint64_t la,
						 uint32_t err)
{
	c->cr2 = la;
	emu_raise_err(c, EXC_PF, err);
}

/* Host pointer to a page-table entry; NULL if the table is not RAM. */
static void *pte_ptr(struct emu_cpu *c, uint64_t gpa, unsigned size)
{
	return gmem_ptr(c->mem, gpa, size);
}

static uint64_t pte_load(void *p, unsigned size)
{
	if (size == 8)
		return __atomic_load_n((uint64_t *)p, __ATOMIC_RELAXED);
	return __atomic_load_n((uint32_t *)p, __ATOMIC_RELAXED);
}

static void pte_set_bits(void *p, unsigned size, uint64_t bits)
{
	if (size == 8)
		__atomic_fetch_or((uint64_t *)p, bits, __ATOMIC_RELAXED);
	else
		__atomic_fetch_or((uint32_t *)p, (uint32_t)bits, __ATOMIC_RELAXED);
}

/*
 * Walk the page tables for la. acc is ACC_R/W/X, user the privilege of
 * the access. Returns the guest-physical address of the page and fills
 * *perm with the TP_* bits the mapping allows (for the TLB). Sets A on
 * every level and D on the leaf for writes. Raises #PF.
 */
static uint64_t walk(struct emu_cpu *c, uint64_t la, int acc, bool user,
		     uint32_t *perm)
{
	bool pae = c->cr4 & CR4_PAE, lma = c->efer & EFER_LMA;
	bool nxe = c->efer & EFER_NXE;
	bool wp = c->cr0 & CR0_WP;
	unsigned esz = pae ? 8 : 4;
	int levels = lma ? 4 : pae ? 3 : 2;
	uint64_t table = pae ? (lma ? c->cr3 & ADDR_MASK : c->cr3 & 0xFFFFFFE0ULL)
			     : c->cr3 & 0xFFFFF000ULL;
	bool w_ok = true, u_ok = true, x_ok = true;
	uint32_t ferr = (acc == ACC_W ? PFE_W : 0) | (user ? PFE_U : 0) |
			(acc == ACC_X && nxe && pae ? PFE_I : 0);
	void *slots[4];
	uint64_t ents[4];
	int n = 0;
	uint64_t page_size = 4096, pte = 0, frame;

	for (int lvl = levels; lvl >= 1; lvl--) {
		unsigned shift, idx;
		if (pae)
			shift = 12 + 9 * (lvl - 1);
		else
			shift = 12 + 10 * (lvl - 1);
		if (pae && !lma && lvl == 3)
			idx = (la >> 30) & 3;
		else
			idx = (la >> shift) & (pae ? 511 : 1023);
		void *p = pte_ptr(c, table + idx * esz, esz);
		if (!p)
			page_fault(c, la, ferr | PFE_RSVD);
		pte = pte_load(p, esz);
		if (!(pte & PTE_P))
			page_fault(c, la, ferr);
		if (pae) {
			uint64_t rsv = pte & ((1ULL << 52) - 1) & ~((1ULL << PHYS_BITS) - 1);
			if (!nxe && (pte & PTE_NX))
				rsv = 1;
			if (lma && lvl == 4 && (pte & PTE_PS))
				rsv = 1;
			if (rsv)
				page_fault(c, la, ferr | PFE_P | PFE_RSVD);
		}
		/* PAE PDPTEs (legacy) carry no access rights. */
		if (!(pae && !lma && lvl == 3)) {
			if (!(pte & PTE_W))
				w_ok = false;
			if (!(pte & PTE_U))
				u_ok = false;
			if (pae && nxe && (pte & PTE_NX))
				x_ok = false;
		}
		slots[n] = p;
		ents[n++] = pte;
		bool large = (pte & PTE_PS) && (lvl == 2 || (lvl == 3 && lma)) &&
			     (pae || (c->cr4 & CR4_PSE));
		if (large) {
			page_size = 1ULL << shift;
			break;
		}
		if (lvl == 1)
			break;
		table = pae ? pte & ADDR_MASK : pte & 0xFFFFF000ULL;
	}

	/* Permission check for this access. */
	bool ok = true;
	if (user && !u_ok)
		ok = false;
	if (acc == ACC_W && !w_ok && (user || wp))
		ok = false;
	if (acc == ACC_X && !x_ok)
		ok = false;
	if (!ok)
		page_fault(c, la, ferr | PFE_P);

	/* Accessed on every level, dirty on the leaf for writes. */
	for (int i = 0; i < n; i++) {
		bool legacy_pdpte = pae && !lma && levels == 3 && i == 0;
		if (legacy_pdpte)
			continue;
		uint64_t bits = PTE_A;
		if (i == n - 1 && acc == ACC_W)
			bits |= PTE_D;
		if ((ents[i] & bits) != bits)
			pte_set_bits(slots[i], esz, bits);
	}
	if (acc == ACC_W)
		pte |= PTE_D;

	if (page_size == 4096)
		frame = pae ? pte & ADDR_MASK : pte & 0xFFFFF000ULL;
	else if (pae)
		frame = (pte & ADDR_MASK & ~(page_size - 1)) | (la & (page_size - 1) & ~0xFFFULL);
	else    /* 4 MiB PSE page: bits 20:13 are physical 39:32 */
		frame = (pte & 0xFFC00000ULL) | ((pte & 0x1FE000ULL) << 19) |
			(la & 0x3FF000ULL);

	uint32_t pm = TP_BIT(ACC_R, 0);
	if (u_ok)
		pm |= TP_BIT(ACC_R, 1);
	/* Writes through the TLB only once D is set, so it gets set. */
	if (pte & PTE_D) {
		if (w_ok || !wp)
			pm |= TP_BIT(ACC_W, 0);
		if (w_ok && u_ok)
			pm |= TP_BIT(ACC_W, 1);
	}
	if (x_ok) {
		pm |= TP_BIT(ACC_X, 0);
		if (u_ok)
			pm |= TP_BIT(ACC_X, 1);
	}
	if ((pte & PTE_G) && (c->cr4 & CR4_PGE))
		pm |= TP_GLOBAL;
	*perm = pm;
	return frame;
}

static bool is_user(const struct emu_cpu *c, bool sup)
{
	return c->cpl == 3 && !sup;
}

/* The TLB entry for la allowing acc, filling it on a miss. */
static struct tlb_ent *tlb_lookup(struct emu_cpu *c, uint64_t la, int acc, bool sup)
{
	bool user = is_user(c, sup);
	uint64_t vpage = la & ~0xFFFULL;
	struct tlb_ent *e = &c->tlb[emu_tlb_slot(la)];

	if (e->tag == (vpage | TLB_VALID) && (e->perm & TP_BIT(acc, user)))
		return e;

	if ((e->tag & TLB_VALID) && e->tag != (vpage | TLB_VALID)) {
		for (unsigned i = 0; i < TLB_VICTIMS; i++) {
			struct tlb_ent *v = &c->tlb_victim[i];
			if (v->tag == (vpage | TLB_VALID) && (v->perm & TP_BIT(acc, user))) {
				struct tlb_ent t = *v;
				*v = *e;
				*e = t;
				c->stats.tlb_victim_hits++;
				return e;
			}
		}
		/* The fill below replaces e: keep it as a victim. */
		c->tlb_victim[c->tlb_victim_next++ % TLB_VICTIMS] = *e;
	}

	uint64_t gpa;
	uint32_t perm;
	c->stats.tlb_fills++;
	if (e->tag & TLB_VALID)
		c->stats.tlb_refills[e->tag == (vpage | TLB_VALID)]++;
	if (c->cr0 & CR0_PG) {
		gpa = walk(c, la, acc, user, &perm);
	} else {
		gpa = vpage & 0xFFFFFFFFFFFFF000ULL;
		if (!(c->efer & EFER_LMA))
			gpa &= 0xFFFFFFFFULL;
		perm = 0x3F;
	}
	e->tag = vpage | TLB_VALID;
	e->gpa = gpa;
	e->perm = perm;
	e->host = gmem_ptr(c->mem, gpa, 4096);
	e->pidx = e->host ? emu_page_index(c->sh, gpa) : -1;
	/* fast[i] for TP_BIT(acc, user) == 1 << i, acc R and W */
	for (unsigned i = 0; i < 4; i++)
		e->fast[i] = e->host && (perm & (1u << i)) ? e->tag : 0;
	return e;
}

static void check_canonical(struct emu_cpu *c, uint64_t la)
{
	if (c->efer & EFER_LMA) {
		int64_t s = (int64_t)(la << 16) >> 16;
		if ((uint64_t)s != la)
			emu_raise_err(c, EXC_GP, 0);
	}
}

static uint64_t load_host(const uint8_t *p, unsigned size)
{
	switch (size) {
	case 1: return *p;
	case 2: { uint16_t v; memcpy(&v, p, 2); return v; }
	case 4: { uint32_t v; memcpy(&v, p, 4); return v; }
	default: { uint64_t v; memcpy(&v, p, 8); return v; }
	}
}

static void store_host(uint8_t *p, unsigned size, uint64_t v)
{
	switch (size) {
	case 1: *p = (uint8_t)v; break;
	case 2: { uint16_t x = (uint16_t)v; memcpy(p, &x, 2); break; }
	case 4: { uint32_t x = (uint32_t)v; memcpy(p, &x, 4); break; }
	default: memcpy(p, &v, 8); break;
	}
}

uint64_t emu_lin_read(struct emu_cpu *c, uint64_t la, unsigned size, bool sup)
{
	unsigned off = la & 0xFFF;

	if (off + size > 4096) {
		uint64_t v = 0;
		for (unsigned i = 0; i < size; i++)
			v |= emu_lin_read(c, la + i, 1, sup) << (8 * i);
		return v;
	}
	check_canonical(c, la);
	struct tlb_ent *e = tlb_lookup(c, la, ACC_R, sup);
	if (e->host)
		return load_host(e->host + off, size);
	if (c->lapic && e->gpa == (c->apic_base & ~0xFFFULL) && (c->apic_base & (1u << 11))) {
		c->stats.lapic++;
		return lapic_mmio_read(c->lapic, off, size);
	}
	c->stats.mmio++;
	return bus_read(c->mmio, e->gpa + off, size);
}

void emu_lin_write(struct emu_cpu *c, uint64_t la, unsigned size, uint64_t v,
		   bool sup)
{
	unsigned off = la & 0xFFF;

	if (off + size > 4096) {
		unsigned first = 4096 - off;
		/* Translate both pages for write first: no partial store on #PF. */
		check_canonical(c, la);
		check_canonical(c, la + first);
		(void)tlb_lookup(c, la, ACC_W, sup);
		(void)tlb_lookup(c, la + first, ACC_W, sup);
		for (unsigned i = 0; i < size; i++)
			emu_lin_write(c, la + i, 1, v >> (8 * i), sup);
		return;
	}
	check_canonical(c, la);
	struct tlb_ent *e = tlb_lookup(c, la, ACC_W, sup);
	if (e->host) {
		store_host(e->host + off, size, v);
		if (e->pidx >= 0 && atomic_load_explicit(&c->sh->has_code[e->pidx],
							 memory_order_relaxed)) {
			emu_code_written(c->sh, e->pidx);
			c->exit_req = true;
		}
		return;
	}
	if (c->lapic && e->gpa == (c->apic_base & ~0xFFFULL) && (c->apic_base & (1u << 11))) {
		c->stats.lapic++;
		lapic_mmio_write(c->lapic, off, size, v);
		return;
	}
	c->stats.mmio++;
	bus_write(c->mmio, e->gpa + off, size, v);
}

void *emu_lin_ptr(struct emu_cpu *c, uint64_t la, unsigned size, int acc)
{
	unsigned off = la & 0xFFF;

	if (off + size > 4096)
		return NULL;
	check_canonical(c, la);
	struct tlb_ent *e = tlb_lookup(c, la, acc, false);
	if (!e->host)
		return NULL;
	if (acc == ACC_W && e->pidx >= 0 &&
	    atomic_load_explicit(&c->sh->has_code[e->pidx], memory_order_relaxed)) {
		emu_code_written(c->sh, e->pidx);
		c->exit_req = true;
	}
	return e->host + off;
}

uint64_t emu_fetch_page(struct emu_cpu *c, uint64_t la, uint8_t **host, bool *global)
{
	check_canonical(c, la);
	struct tlb_ent *e = tlb_lookup(c, la, ACC_X, false);
	*host = e->host;
	*global = e->perm & TP_GLOBAL;
	return e->gpa;
}

uint64_t emu_seg_la(struct emu_cpu *c, int seg, uint64_t off)
{
	if (c->code64) {
		if (seg == SEG_FS || seg == SEG_GS)
			return c->seg[seg].base + off;
		return off;
	}
	return (uint32_t)(c->seg[seg].base + off);
}

uint64_t emu_read(struct emu_cpu *c, int seg, uint64_t off, unsigned size)
{
	uint64_t la = emu_seg_la(c, seg, off);
	const uint8_t *p = emu_tlb_hit(c, la, size, ACC_R);
	if (p)
		return emu_host_load(p, size);
	return emu_lin_read(c, la, size, false);
}

void emu_write(struct emu_cpu *c, int seg, uint64_t off, unsigned size, uint64_t v)
{
	uint64_t la = emu_seg_la(c, seg, off);
	uint8_t *p = emu_tlb_hit(c, la, size, ACC_W);
	if (p)
		emu_host_store(p, size, v);
	else
		emu_lin_write(c, la, size, v, false);
}
