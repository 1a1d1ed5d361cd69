/*
 * x87, MMX, SSE/SSE2 and FXSAVE/FXRSTOR for the emu CPU (fp*.c).
 */
#ifndef VIREO_CPU_EMU_EMU_FP_H
#define VIREO_CPU_EMU_EMU_FP_H

/* Register the handlers of every FP mnemonic implemented (once, at setup). */
void emu_fp_register(void);

#endif
