/*
 * emu-diff: run generated instruction cases natively and in the emu CPU
 * and compare GPRs, RIP, the compared RFLAGS bits, the exception vector
 * (and CR2 for #PF), the data area byte for byte and, for x87/SSE classes,
 * the FXSAVE image.
 *
 *   emu-diff [--all] [--class NAME]... [--required FILE] [--selftest]
 *            [--list] [--dump] [--native-vs-native] [--verbose]
 *
 * Default (and --all): every class; a class the emulator does not
 * implement yet (#UD where the host has none) counts as failing.
 * --required FILE: only the classes named in FILE (one a line, # comments):
 * what the meson test runs, so the suite stays green while the emulator
 * grows. --selftest: only the native hand-checked cases.
 * --native-vs-native: both sides run natively (checks the harness and
 * the generators: every class must come out clean).
 * EMU_DIFF_SEED overrides the PRNG seed, EMU_DIFF_SCALE (percent) the
 * number of cases per class.
 *
 * Exit status: 0 if no class has a mismatch in defined state; mismatches
 * only in flags (or registers) the SDM leaves undefined are reported but
 * don't fail.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <cpuid.h>

#include "harness.h"

#define DEFAULT_SEED 0x5EED0F0E3ULL
#define SHOW_PER_CLASS 3

static struct result nat, emu;
static uint8_t data_img[DATA_SIZE];
static bool verbose;
static bool dump;               /* --dump: print every generated case */
static bool self_compare;       /* --native-vs-native: check the harness */

struct stats {
	unsigned cases, mismatches, undef_only, unimpl, skipped, shown, faults;
};

static uint64_t slot_next = SLOT_BASE;

static uint64_t next_slot(void)
{
	/* A slot must fit whole: the area is not a multiple of SLOT_SIZE, and
	 * the last partial one ran its branch stubs off the mapping. */
	if (slot_next + SLOT_SIZE > SLOT_BASE + SLOT_AREA) {
		slot_next = SLOT_BASE;
		emurun_reset();         /* drop the emulator's code cache */
	}
	uint64_t s = slot_next;
	slot_next += SLOT_SIZE;
	return s;
}

/* Intel syntax of every instruction in code, "; "-separated. */
static void disasm(const uint8_t *code, unsigned len, uint64_t rip,
		   char *buf, size_t size)
{
	ZydisDisassembledInstruction in;
	unsigned off = 0;
	size_t used = 0;

	buf[0] = 0;
	while (off < len && used < size) {
		if (!ZYAN_SUCCESS(ZydisDisassembleIntel(ZYDIS_MACHINE_MODE_LONG_64,
							rip + off, code + off,
							len - off, &in))) {
			snprintf(buf + used, size - used, "%s(undecodable)",
				 off ? "; " : "");
			return;
		}
		used += (size_t)snprintf(buf + used, size - used, "%s%s",
					 off ? "; " : "", in.text);
		off += in.info.length;
	}
}

static const char *const gpr_names[16] = {
	"rax", "rcx", "rdx", "rbx", "rsp", "rbp", "rsi", "rdi",
	"r8", "r9", "r10", "r11", "r12", "r13", "r14", "r15",
};

static void flags_str(uint64_t f, char *b)
{
	snprintf(b, 24, "%c%c%c%c%c%c%c",
		 f & F_OF ? 'O' : '-', f & F_DF ? 'D' : '-', f & F_SF ? 'S' : '-',
		 f & F_ZF ? 'Z' : '-', f & F_AF ? 'A' : '-', f & F_PF ? 'P' : '-',
		 f & F_CF ? 'C' : '-');
}

/* FXSAVE ranges that are compared: FCW FSW FTW, MXCSR, ST0-7, XMM0-15. */
static bool fx_differs(const uint8_t *a, const uint8_t *b, unsigned *at)
{
	static const unsigned ranges[][2] = { { 0, 5 }, { 24, 28 } };

	for (unsigned r = 0; r < 2; r++)
		for (unsigned o = ranges[r][0]; o < ranges[r][1]; o++)
			if (a[o] != b[o])
				return *at = o, true;
	for (unsigned st = 0; st < 8; st++)
		for (unsigned o = 32 + 16 * st; o < 42 + 16 * st; o++)
			if (a[o] != b[o])
				return *at = o, true;
	for (unsigned o = 160; o < 416; o++)
		if (a[o] != b[o])
			return *at = o, true;
	return false;
}

static bool mem_differs(const struct tcase *c, unsigned *at)
{
	if (!memcmp(nat.data, emu.data, DATA_SIZE))
		return false;
	for (unsigned o = 0; o < DATA_SIZE; o++) {
		uint64_t a = DATA_BASE + o;

		if (nat.data[o] == emu.data[o])
			continue;
		if (c->mask_bits && a >= c->mask_addr && a < c->mask_addr + 8) {
			unsigned sh = (unsigned)(a - c->mask_addr) * 8;

			if (!(((nat.data[o] ^ emu.data[o]) & (c->mask_bits >> sh)) & 0xFF))
				continue;
		}
		*at = o;
		return true;
	}
	return false;
}

enum verdict { V_OK, V_UNDEF_ONLY, V_MISMATCH, V_UNIMPL };

static enum verdict compare(const struct tcase *c)
{
	uint64_t fd = (nat.st.rflags ^ emu.st.rflags) & F_COMPARED;
	unsigned at;
	bool undef = false;

	if (nat.vector != emu.vector)
		return emu.vector == 6 ? V_UNIMPL : V_MISMATCH;
	if (nat.st.rip != emu.st.rip)
		return V_MISMATCH;
	if (nat.vector == 14 && nat.cr2 != emu.cr2)
		return V_MISMATCH;
	for (int r = 0; r < 16; r++) {
		if (nat.st.gpr[r] == emu.st.gpr[r])
			continue;
		if (!(c->undef_regs & (1u << r)))
			return V_MISMATCH;
		undef = true;
	}
	if (fd & ~c->undef_flags)
		return V_MISMATCH;
	if (fd)
		undef = true;
	if (mem_differs(c, &at))
		return V_MISMATCH;
	if (c->cmp_fx && fx_differs(nat.st.fx, emu.st.fx, &at))
		return V_MISMATCH;
	return undef ? V_UNDEF_ONLY : V_OK;
}

static void show_case(const char *cls, const struct tcase *c, enum verdict v)
{
	char text[256], fa[24], fb[24], fi[24];
	unsigned at;

	disasm(c->code, c->len, c->rip, text, sizeof(text));
	printf("  %s %s at %#llx: ", cls,
	       v == V_UNDEF_ONLY ? "undefined-only difference" :
	       v == V_UNIMPL ? "MISMATCH (#UD in the emulator only)" : "MISMATCH",
	       (unsigned long long)c->rip);
	for (unsigned b = 0; b < c->len; b++)
		printf("%02x ", c->code[b]);
	printf(" %s\n", text);
	if (c->ref_len) {
		disasm(c->ref_code, c->ref_len, c->rip, text, sizeof(text));
		printf("    native reference: %s\n", text);
	}
	flags_str(c->in.rflags, fi);
	flags_str(nat.st.rflags, fa);
	flags_str(emu.st.rflags, fb);
	printf("    flags in %s  native %s  emu %s  (undefined mask %#llx)\n",
	       fi, fa, fb, (unsigned long long)c->undef_flags);
	printf("    vector native %d emu %d; rip native %#llx emu %#llx",
	       nat.vector, emu.vector, (unsigned long long)nat.st.rip,
	       (unsigned long long)emu.st.rip);
	if (nat.vector == 14 || emu.vector == 14)
		printf("; cr2 native %#llx emu %#llx", (unsigned long long)nat.cr2,
		       (unsigned long long)emu.cr2);
	printf("\n");
	for (int r = 0; r < 16; r++) {
		bool d = nat.st.gpr[r] != emu.st.gpr[r];

		if (!d && !verbose && c->in.gpr[r] == nat.st.gpr[r])
			continue;
		printf("    %-3s in %016llx  native %016llx  emu %016llx%s\n",
		       gpr_names[r], (unsigned long long)c->in.gpr[r],
		       (unsigned long long)nat.st.gpr[r],
		       (unsigned long long)emu.st.gpr[r], d ? "  <--" : "");
	}
	if (mem_differs(c, &at)) {
		unsigned from = at & ~15u;

		printf("    memory differs at %#llx:\n      before:",
		       (unsigned long long)(DATA_BASE + at));
		for (unsigned o = from; o < from + 16 && o < DATA_SIZE; o++)
			printf(" %02x", data_img[o]);
		printf("\n      native:");
		for (unsigned o = from; o < from + 16 && o < DATA_SIZE; o++)
			printf(" %02x", nat.data[o]);
		printf("\n      emu:   ");
		for (unsigned o = from; o < from + 16 && o < DATA_SIZE; o++)
			printf(" %02x", emu.data[o]);
		printf("\n");
	}
	if (c->cmp_fx && fx_differs(nat.st.fx, emu.st.fx, &at)) {
		unsigned from = at & ~15u;

		printf("    fxsave image differs at byte %u (%s):\n      in:    ", at,
		       at < 32 ? "control/status" : at < 160 ? "ST regs" : "XMM regs");
		for (unsigned o = from; o < from + 16; o++)
			printf(" %02x", c->in.fx[o]);
		printf("\n      native:");
		for (unsigned o = from; o < from + 16; o++)
			printf(" %02x", nat.st.fx[o]);
		printf("\n      emu:   ");
		for (unsigned o = from; o < from + 16; o++)
			printf(" %02x", emu.st.fx[o]);
		printf("\n");
	}
}

static void run_case(const struct tcase *c)
{
	native_prepare_data(c, data_img);
	if (c->ref_len)
		native_run(c, c->ref_code, c->ref_len, data_img, &nat);
	else
		native_run(c, c->code, c->len, data_img, &nat);
	if (self_compare) {
		native_run(c, c->ref_len ? c->ref_code : c->code,
			   c->ref_len ? c->ref_len : c->len, data_img, &emu);
		return;
	}
	emurun_run(c, data_img, &emu);
}

static void run_class(const struct tclass *k, struct gen *g, unsigned scale,
		      struct stats *s)
{
	static struct tcase c;
	unsigned count = (unsigned)((uint64_t)k->count * scale / 100);

	if (count == 0)
		count = 1;
	memset(s, 0, sizeof(*s));
	for (unsigned i = 0; i < count; i++) {
		bool ok = false;
		enum verdict v;

		for (unsigned attempt = 0; attempt < 16 && !ok; attempt++) {
			g->rip = next_slot();
			case_init(g, &c);
			ok = k->gen(g, &c, i, k);
		}
		if (!ok) {
			s->skipped++;
			continue;
		}
		if (dump) {
			char text[256];

			disasm(c.code, c.len, c.rip, text, sizeof(text));
			printf("  %s case %u: %s\n", k->name, i, text);
		}
		run_case(&c);
		s->cases++;
		s->faults += nat.vector >= 0;
		v = compare(&c);
		if (v == V_OK)
			continue;
		if (v == V_UNDEF_ONLY)
			s->undef_only++;
		else
			s->mismatches++;
		if (v == V_UNIMPL)
			s->unimpl++;
		if (s->shown < SHOW_PER_CLASS || verbose) {
			s->shown++;
			show_case(k->name, &c, v);
		}
	}
}

/* Native-only sanity checks of the runner itself, with known answers. */
static int selftest(struct gen *g)
{
	static struct tcase c;
	int bad = 0;
	struct {
		const char *name;
		uint8_t code[8];
		unsigned len;
		uint64_t rax, rbx;
		int vector;
		uint64_t out_rax, flags, cr2;
	} t[] = {
		{ "add eax,ebx wraps", { 0x01, 0xD8 }, 2, ~0ULL, 1, -1, 0,
		  F_CF | F_ZF | F_PF | F_AF, 0 },
		{ "div ebx by zero", { 0xF7, 0xF3 }, 2, 5, 0, 0, 5, 0, 0 },
		{ "ud2", { 0x0F, 0x0B }, 2, 7, 0, 6, 7, 0, 0 },
		{ "lock add eax,ebx", { 0xF0, 0x01, 0xD8 }, 3, 7, 1, 6, 7, 0, 0 },
		{ "load from guard page", { 0x8B, 0x04, 0x25, GUARD_PAGE & 0xFF,
		  GUARD_PAGE >> 8 & 0xFF, GUARD_PAGE >> 16 & 0xFF, GUARD_PAGE >> 24 },
		  7, 9, 0, 14, 9, 0, GUARD_PAGE },
		{ "std", { 0xFD }, 1, 1, 0, -1, 1, F_DF, 0 },
		{ "sub rax,rbx", { 0x48, 0x29, 0xD8 }, 3, 3, 5, -1, ~1ULL,
		  F_CF | F_SF | F_AF, 0 },
	};

	for (unsigned i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		bool ok;

		g->rip = next_slot();
		case_init(g, &c);
		set_bytes(&c, t[i].code, t[i].len);
		c.in.gpr[R_RAX] = t[i].rax;
		c.in.gpr[R_RBX] = t[i].rbx;
		c.in.rflags = 2;
		native_prepare_data(&c, data_img);
		native_run(&c, c.code, c.len, data_img, &nat);
		ok = nat.vector == t[i].vector &&
		     (t[i].vector == 14 || nat.st.gpr[R_RAX] == t[i].out_rax) &&
		     (nat.st.rflags & F_COMPARED & ~(t[i].vector >= 0 ? F_ARITH : 0)) ==
		     (t[i].vector >= 0 ? 0 : t[i].flags) &&
		     nat.st.rip == (t[i].vector >= 0 ? c.rip : c.rip + c.len) &&
		     nat.cr2 == t[i].cr2 && nat.st.gpr[R_RBX] == t[i].rbx;
		printf("selftest %-22s %s (vector %d rax %#llx flags %#llx)\n",
		       t[i].name, ok ? "ok" : "FAILED", nat.vector,
		       (unsigned long long)nat.st.gpr[R_RAX],
		       (unsigned long long)(nat.st.rflags & F_COMPARED));
		bad += !ok;
	}
	/* push rax: memory and RSP. */
	g->rip = next_slot();
	case_init(g, &c);
	set_bytes(&c, (const uint8_t[]){ 0x50 }, 1);
	native_prepare_data(&c, data_img);
	native_run(&c, c.code, c.len, data_img, &nat);
	if (nat.st.gpr[R_RSP] != STACK_TOP - 8 ||
	    memcmp(nat.data + (STACK_TOP - 8 - DATA_BASE), &c.in.gpr[R_RAX], 8)) {
		printf("selftest push rax FAILED\n");
		bad++;
	} else {
		printf("selftest push rax              ok\n");
	}
	return bad;
}

static bool listed(const char *name, char **names, unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		if (!strcmp(names[i], name))
			return true;
	return false;
}

static unsigned read_required(const char *path, char **names, unsigned max)
{
	static char pool[256][64];
	static unsigned used;
	FILE *f = fopen(path, "r");
	char line[128];
	unsigned n = 0;

	if (!f) {
		fprintf(stderr, "emu-diff: %s: %s\n", path, strerror(errno));
		exit(2);
	}
	while (fgets(line, sizeof(line), f) && n < max) {
		char *p = line, *e;

		while (*p == ' ' || *p == '\t')
			p++;
		e = p + strcspn(p, " \t\r\n#");
		if (e == p)
			continue;
		*e = 0;
		if (used >= 256 || strlen(p) >= sizeof(pool[0]))
			continue;
		strcpy(pool[used], p);
		names[n++] = pool[used++];
	}
	fclose(f);
	return n;
}

int main(int argc, char **argv)
{
	const struct tclass *tables[] = { alu_classes, misc_classes,
					  str_classes, decode_classes,
					  seq_classes, branch_classes,
					  fp_classes };
	char *names[256];
	unsigned nnames = 0, scale = 100, passed = 0, failed = 0, skipped = 0;
	unsigned total = 0, total_bad = 0;
	bool only_self = false, list = false, filtered = false;
	struct gen g;
	unsigned eax, ebx, ecx, edx;
	const char *env;
	time_t t0 = time(NULL);

	for (int a = 1; a < argc; a++) {
		if (!strcmp(argv[a], "--all")) {
			continue;
		} else if (!strcmp(argv[a], "--class") && a + 1 < argc) {
			names[nnames++] = argv[++a];
			filtered = true;
		} else if (!strcmp(argv[a], "--required") && a + 1 < argc) {
			nnames += read_required(argv[++a], names + nnames,
						256 - nnames);
			filtered = true;
		} else if (!strcmp(argv[a], "--selftest")) {
			only_self = true;
		} else if (!strcmp(argv[a], "--native-vs-native")) {
			self_compare = true;
		} else if (!strcmp(argv[a], "--dump")) {
			dump = true;
		} else if (!strcmp(argv[a], "--list")) {
			list = true;
		} else if (!strcmp(argv[a], "--verbose") || !strcmp(argv[a], "-v")) {
			verbose = true;
		} else {
			fprintf(stderr, "usage: %s [--all] [--class NAME]... "
				"[--required FILE] [--selftest] [--list] [-v]\n",
				argv[0]);
			return 2;
		}
		if (nnames > 250)
			break;
	}
	for (unsigned n = 0; n < nnames; n++) {
		bool known = false;

		for (unsigned t = 0; t < sizeof(tables) / sizeof(tables[0]); t++)
			for (const struct tclass *k = tables[t]; k->name; k++)
				known |= !strcmp(k->name, names[n]);
		if (!known) {
			fprintf(stderr, "emu-diff: no class %s (see --list)\n",
				names[n]);
			return 2;
		}
	}
	if (list) {
		for (unsigned t = 0; t < sizeof(tables) / sizeof(tables[0]); t++)
			for (const struct tclass *k = tables[t]; k->name; k++)
				printf("%s\n", k->name);
		return 0;
	}

	memset(&g, 0, sizeof(g));
	g.rng.s = DEFAULT_SEED;
	env = getenv("EMU_DIFF_SEED");
	if (env && *env)
		g.rng.s = strtoull(env, NULL, 0);
	env = getenv("EMU_DIFF_SCALE");
	if (env && *env)
		scale = (unsigned)strtoul(env, NULL, 0);
	/* CMPXCHG16B is tested only if both the host and the emulated CPU
	 * advertise it (CPUID.1:ECX.CX16[bit 13]). */
	if (__get_cpuid(1, &eax, &ebx, &ecx, &edx))
		g.has_cx16 = ecx & (1u << 13);
	if (!g.has_cx16)
		printf("emu-diff: the host has no CMPXCHG16B: not tested\n");
	printf("emu-diff: seed %#llx (EMU_DIFF_SEED), scale %u%% (EMU_DIFF_SCALE)\n",
	       (unsigned long long)g.rng.s, scale);

	if (native_init()) {
		fprintf(stderr, "emu-diff: cannot map the fixed test areas: %s\n",
			strerror(errno));
		return 1;
	}
	if (selftest(&g)) {
		printf("0 passed, 1 failed\n");
		return 1;
	}
	if (only_self) {
		printf("1 passed, 0 failed\n");
		return 0;
	}
	if (!self_compare && (emurun_init() || !emurun_available())) {
		printf("emu-diff: the emu CPU is not available in this build\n");
		printf("0 passed, 0 failed\n");
		return filtered && nnames == 0 ? 0 : 77;
	}

	g.has_guard = self_compare || emurun_has_guard();
	if (!g.has_guard)
		printf("emu-diff: could not unmap the guard page in the emulator: "
		       "memory faults not tested\n");
	if (!self_compare && g.has_cx16) {
		uint32_t id[4];

		if (!emurun_cpuid(1, 0, id) || !(id[2] & (1u << 13))) {
			printf("emu-diff: the emulated CPUID has no CMPXCHG16B: not tested\n");
			g.has_cx16 = false;
		}
	}
	for (unsigned t = 0; t < sizeof(tables) / sizeof(tables[0]); t++) {
		for (const struct tclass *k = tables[t]; k->name; k++) {
			struct stats s;

			if (filtered && !listed(k->name, names, nnames))
				continue;
			run_class(k, &g, scale, &s);
			if (s.cases == 0) {
				printf("class %s: skipped (no case could be generated)\n",
				       k->name);
				skipped++;
				continue;
			}
			printf("class %s: %u cases, %u mismatches (%u in undefined flags only)",
			       k->name, s.cases, s.mismatches, s.undef_only);
			if (s.unimpl)
				printf(", %u #UD in the emulator only", s.unimpl);
			if (s.faults)
				printf(", %u raise exceptions natively", s.faults);
			if (s.skipped)
				printf(", %u not generated", s.skipped);
			printf("\n");
			total += s.cases;
			total_bad += s.mismatches;
			if (s.mismatches)
				failed++;
			else
				passed++;
		}
	}
	printf("emu-diff: %u cases, %u mismatches in defined state, %lld s\n",
	       total, total_bad, (long long)(time(NULL) - t0));
	if (skipped)
		printf("%u passed, %u failed, %u skipped\n", passed, failed, skipped);
	else
		printf("%u passed, %u failed\n", passed, failed);
	return failed ? 1 : 0;
}
