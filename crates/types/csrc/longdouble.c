/* Long-double arithmetic for INCRBYFLOAT and HINCRBYFLOAT.
 *
 * Redis adds these in the platform's `long double` (80-bit x87 on x86-64)
 * and prints the result with 17 decimals, trailing zeros removed. Rust has
 * no such type, so this file does exactly that step and nothing else. */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SHOAL_LD_MAX_CHARS (5 * 1024)

/* Parses a whole string as a long double. Returns 1 on success. */
static int parse_ld(const char *s, size_t len, long double *out) {
    char buf[SHOAL_LD_MAX_CHARS];
    char *end;
    long double v;
    if (len == 0 || len >= sizeof(buf)) return 0;
    memcpy(buf, s, len);
    buf[len] = '\0';
    if (isspace((unsigned char)buf[0])) return 0;
    errno = 0;
    v = strtold(buf, &end);
    if (*end != '\0' || (size_t)(end - buf) != len) return 0;
    if (errno == ERANGE && (v == HUGE_VALL || v == -HUGE_VALL || fpclassify(v) == FP_ZERO)) return 0;
    if (errno == EINVAL || isnan(v)) return 0;
    *out = v;
    return 1;
}

/* Writes `v` as "%.17Lf" without trailing zeros ("-0" becomes "0").
 * Returns the length, or 0 if it does not fit. */
static size_t format_ld(long double v, char *out, size_t cap) {
    int n;
    if (isinf(v)) {
        const char *text = v > 0 ? "inf" : "-inf";
        n = (int)strlen(text);
        if ((size_t)n + 1 > cap) return 0;
        memcpy(out, text, (size_t)n + 1);
        return (size_t)n;
    }
    n = snprintf(out, cap, "%.17Lf", v);
    if (n < 0 || (size_t)n + 1 > cap) return 0;
    if (strchr(out, '.') != NULL) {
        while (n > 0 && out[n - 1] == '0') n--;
        if (n > 0 && out[n - 1] == '.') n--;
    }
    if (n == 2 && out[0] == '-' && out[1] == '0') {
        out[0] = '0';
        n = 1;
    }
    out[n] = '\0';
    return (size_t)n;
}

/* current + increment. Returns 0 on success (result in out/out_len),
 * 1 if current is not a number, 2 if increment is not, 3 if the sum is
 * NaN or infinite, 4 if the result does not fit. */
int shoal_ld_add(const char *current, size_t current_len,
                 const char *increment, size_t increment_len,
                 char *out, size_t out_cap, size_t *out_len) {
    long double a, b, sum;
    if (!parse_ld(current, current_len, &a)) return 1;
    if (!parse_ld(increment, increment_len, &b)) return 2;
    sum = a + b;
    if (isnan(sum) || isinf(sum)) return 3;
    *out_len = format_ld(sum, out, out_cap);
    return *out_len == 0 ? 4 : 0;
}

/* Parses and re-prints one long double (used to validate increments).
 * Returns 1 on success. */
int shoal_ld_valid(const char *s, size_t len) {
    long double v;
    return parse_ld(s, len, &v);
}

/* A blocking timeout in seconds turned into milliseconds as Redis does it:
 * parsed as a long double, times 1000, rounded up, converted to a signed
 * 64-bit integer. Out-of-range conversions (infinities, huge values) give
 * the x86-64 result, INT64_MIN, so they come out negative. Returns 1 on
 * success, 0 if the text is not a float. */
int shoal_ld_timeout_ms(const char *s, size_t len, long long *out) {
    long double v, ms;
    if (!parse_ld(s, len, &v)) return 0;
    ms = ceill(v * 1000.0L);
    if (ms >= -9223372036854775808.0L && ms < 9223372036854775808.0L)
        *out = (long long)ms;
    else
        *out = (-9223372036854775807LL - 1);
    return 1;
}
