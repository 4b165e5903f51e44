//go:build !purego

#include "textflag.h"

// Each histogram bin is {g, h float64; n int64}: the gradient pair of a row
// (16 bytes) is added to the bin's g and h with one ADDPD, which rounds each
// lane exactly as two scalar additions would, so the sums are bit-identical
// to the Go loop in hist.go. ADDPD is SSE2, part of every amd64 CPU.

// func histTwoSeg(h0, h1 *[256]hbin, col0, col1 *uint8, seg *int32, og *gpair, n int)
//
// The rows of a small leaf are scattered, so most column reads miss the
// cache; the loop prefetches the bins of the row segDist rows ahead.
#define segDist 32
TEXT ·histTwoSeg(SB), NOSPLIT, $0-56
	MOVQ h0+0(FP), AX
	MOVQ h1+8(FP), BX
	MOVQ col0+16(FP), CX
	MOVQ col1+24(FP), DX
	MOVQ seg+32(FP), SI
	MOVQ og+40(FP), DI
	MOVQ n+48(FP), R8
	XORQ R9, R9
	MOVQ R8, R13
	SUBQ $segDist, R13
	JLE segtail

segloop:
	MOVLQSX (segDist*4)(SI)(R9*4), R10
	PREFETCHT0 (CX)(R10*1)
	PREFETCHT0 (DX)(R10*1)
	MOVLQSX (SI)(R9*4), R10
	MOVUPD (DI), X0
	MOVBLZX (CX)(R10*1), R11
	LEAQ (R11)(R11*2), R11
	MOVUPD (AX)(R11*8), X1
	ADDPD X0, X1
	MOVUPD X1, (AX)(R11*8)
	INCQ 16(AX)(R11*8)
	MOVBLZX (DX)(R10*1), R12
	LEAQ (R12)(R12*2), R12
	MOVUPD (BX)(R12*8), X2
	ADDPD X0, X2
	MOVUPD X2, (BX)(R12*8)
	INCQ 16(BX)(R12*8)
	ADDQ $16, DI
	INCQ R9
	CMPQ R9, R13
	JLT segloop

segtail:
	CMPQ R9, R8
	JGE segdone
	MOVLQSX (SI)(R9*4), R10
	MOVUPD (DI), X0
	MOVBLZX (CX)(R10*1), R11
	LEAQ (R11)(R11*2), R11
	MOVUPD (AX)(R11*8), X1
	ADDPD X0, X1
	MOVUPD X1, (AX)(R11*8)
	INCQ 16(AX)(R11*8)
	MOVBLZX (DX)(R10*1), R12
	LEAQ (R12)(R12*2), R12
	MOVUPD (BX)(R12*8), X2
	ADDPD X0, X2
	MOVUPD X2, (BX)(R12*8)
	INCQ 16(BX)(R12*8)
	ADDQ $16, DI
	INCQ R9
	JMP segtail

segdone:
	RET

// func histTwoAll(h0, h1 *[256]hbin, col0, col1 *uint8, og *gpair, n int)
TEXT ·histTwoAll(SB), NOSPLIT, $0-48
	MOVQ h0+0(FP), AX
	MOVQ h1+8(FP), BX
	MOVQ col0+16(FP), CX
	MOVQ col1+24(FP), DX
	MOVQ og+32(FP), DI
	MOVQ n+40(FP), R8
	XORQ R9, R9
	TESTQ R8, R8
	JLE alldone

allloop:
	MOVUPD (DI), X0
	MOVBLZX (CX)(R9*1), R11
	LEAQ (R11)(R11*2), R11
	MOVUPD (AX)(R11*8), X1
	ADDPD X0, X1
	MOVUPD X1, (AX)(R11*8)
	INCQ 16(AX)(R11*8)
	MOVBLZX (DX)(R9*1), R12
	LEAQ (R12)(R12*2), R12
	MOVUPD (BX)(R12*8), X2
	ADDPD X0, X2
	MOVUPD X2, (BX)(R12*8)
	INCQ 16(BX)(R12*8)
	ADDQ $16, DI
	INCQ R9
	CMPQ R9, R8
	JLT allloop

alldone:
	RET

// func histRowsSeg(h *[256]hbin, rows *uint8, stride, nf int, seg *int32, gh *gpair, n int)
//
// h points at nf consecutive histograms; rows at the first of their bins in
// row 0 of a row-major copy of the bins (stride bytes a row); gh holds the
// gradients of all rows, read at the rows of seg. The row segDist ahead is
// prefetched, its bins and its gradients.
TEXT ·histRowsSeg(SB), NOSPLIT, $0-56
	MOVQ h+0(FP), AX
	MOVQ rows+8(FP), CX
	MOVQ stride+16(FP), DX
	MOVQ nf+24(FP), BX
	MOVQ seg+32(FP), SI
	MOVQ gh+40(FP), DI
	MOVQ n+48(FP), R8
	XORQ R9, R9
	TESTQ R8, R8
	JLE rowsdone

rowsloop:
	LEAQ segDist(R9), R10
	CMPQ R10, R8
	JGE rowsnopf
	MOVLQSX (SI)(R10*4), R10
	MOVQ R10, R11
	SHLQ $4, R11
	PREFETCHT0 (DI)(R11*1)
	IMULQ DX, R10
	ADDQ CX, R10
	PREFETCHT0 (R10)
	PREFETCHT0 -1(R10)(BX*1)

rowsnopf:
	MOVLQSX (SI)(R9*4), R10
	MOVQ R10, R11
	SHLQ $4, R11
	MOVUPD (DI)(R11*1), X0
	IMULQ DX, R10
	ADDQ CX, R10
	MOVQ AX, R11
	XORQ R12, R12

featloop:
	MOVBLZX (R10)(R12*1), R13
	LEAQ (R13)(R13*2), R13
	MOVUPD (R11)(R13*8), X1
	ADDPD X0, X1
	MOVUPD X1, (R11)(R13*8)
	INCQ 16(R11)(R13*8)
	ADDQ $6144, R11
	INCQ R12
	CMPQ R12, BX
	JLT featloop

	INCQ R9
	CMPQ R9, R8
	JLT rowsloop

rowsdone:
	RET
