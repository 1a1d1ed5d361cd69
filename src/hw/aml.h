/*
 * A small AML encoder: enough of the ACPI Machine Language to write a DSDT
 * made of named objects (integers, strings, EISA IDs, packages, resource
 * templates), devices and scopes. No methods.
 *
 * A struct aml is a growable byte buffer. Objects with a PkgLength
 * (scopes, devices, packages) are bracketed by *_begin(), which returns a
 * marker, and aml_end(marker), which fills in the length. Allocation
 * failure is sticky: check aml.err (0 or -ENOMEM) once at the end.
 */
#ifndef VIREO_HW_AML_H
#define VIREO_HW_AML_H

#include <stddef.h>
#include <stdint.h>

struct aml {
	uint8_t *buf;
	size_t len, cap;
	int err;
};

void aml_init(struct aml *a);
void aml_free(struct aml *a);

void aml_byte(struct aml *a, uint8_t b);
void aml_bytes(struct aml *a, const void *p, size_t n);
void aml_le(struct aml *a, uint64_t v, unsigned nbytes);

/*
 * A name string: "\\_SB.PCI0", "_HID", "^FOO". Segments shorter than four
 * characters are padded with '_'.
 */
void aml_namestring(struct aml *a, const char *path);

/* Data objects. */
void aml_integer(struct aml *a, uint64_t v);     /* shortest encoding */
void aml_string(struct aml *a, const char *s);
void aml_eisaid(struct aml *a, const char *id);  /* "PNP0A03" */
void aml_buffer(struct aml *a, const void *data, size_t len);

/* Name(path, <the data object appended next>). */
void aml_name(struct aml *a, const char *path);
/* Name(path, integer) and Name(path, "string") in one call. */
void aml_name_int(struct aml *a, const char *path, uint64_t v);
void aml_name_str(struct aml *a, const char *path, const char *s);

/* Bracketed objects; close each with aml_end(). */
size_t aml_scope_begin(struct aml *a, const char *path);
size_t aml_device_begin(struct aml *a, const char *path);
size_t aml_package_begin(struct aml *a, uint8_t nelems);
void aml_end(struct aml *a, size_t marker);

/*
 * Resource descriptors, appended to a struct aml used as the contents of
 * a ResourceTemplate (pass it to aml_buffer after aml_res_end).
 */
void aml_res_word_bus(struct aml *r, uint16_t min, uint16_t max);
void aml_res_word_io(struct aml *r, uint16_t min, uint16_t max);
void aml_res_dword_mem(struct aml *r, uint32_t min, uint32_t max);
void aml_res_io(struct aml *r, uint16_t base, uint8_t len);
void aml_res_irq(struct aml *r, unsigned irq);   /* IRQNoFlags, 0..15 */
void aml_res_mem32_fixed(struct aml *r, uint32_t base, uint32_t len);
void aml_res_end(struct aml *r);

#endif
