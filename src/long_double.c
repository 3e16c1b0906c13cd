/*
 * The C `long double` primitives behind util.rs's LongDouble.
 *
 * Redis computes INCRBYFLOAT, HINCRBYFLOAT and blocking timeouts in C's long
 * double (the x87 80-bit extended type on x86-64) and prints the results with
 * printf's %Lf/%Lg. Rust has no such type, and no f64 emulation rounds the same
 * way, so these few operations are left to the C compiler and C library, which
 * are the ones Redis itself uses. The value travels between Rust and C as its
 * 16 bytes of storage; every function here is a single C operation.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct { unsigned char bytes[16]; } ferredis_ld;

static long double get(const ferredis_ld *x) {
    long double v;
    memcpy(&v, x->bytes, sizeof(v));
    return v;
}

static void put(ferredis_ld *x, long double v) {
    memset(x->bytes, 0, sizeof(x->bytes));
    memcpy(x->bytes, &v, sizeof(v));
}

/* strtold over a NUL-terminated buffer: the value, the bytes it consumed, errno. */
void ferredis_ld_strtold(const char *buf, ferredis_ld *out, size_t *consumed, int *err) {
    char *end;
    errno = 0;
    long double v = strtold(buf, &end);
    *err = errno;
    *consumed = (size_t)(end - buf);
    put(out, v);
}

void ferredis_ld_from_ll(long long v, ferredis_ld *out) { put(out, (long double)v); }

void ferredis_ld_add(const ferredis_ld *a, const ferredis_ld *b, ferredis_ld *out) {
    put(out, get(a) + get(b));
}

/* 1 NaN, 2 infinite, 3 zero, 0 otherwise; *negative gets the sign. */
int ferredis_ld_class(const ferredis_ld *x, int *negative) {
    long double v = get(x);
    *negative = signbit(v) != 0;
    if (isnan(v)) return 1;
    if (isinf(v)) return 2;
    if (v == 0) return 3;
    return 0;
}

/* (long long) ceill(v * 1000.0): a timeout in seconds to milliseconds, with C's
 * conversion of out-of-range values (LLONG_MIN on x86-64). */
long long ferredis_ld_ceil_ms(const ferredis_ld *x) { return (long long)ceill(get(x) * 1000.0); }

/* snprintf of the value: mode 0 "%.17Lg", 1 "%.17Lf", 2 "%La". */
int ferredis_ld_snprintf(char *buf, size_t len, const ferredis_ld *x, int mode) {
    long double v = get(x);
    switch (mode) {
    case 0: return snprintf(buf, len, "%.17Lg", v);
    case 1: return snprintf(buf, len, "%.17Lf", v);
    default: return snprintf(buf, len, "%La", v);
    }
}
