/* Text for people: malloc'd formatting for error messages, and the filter that makes text from
 * outside (a model's answer, text it quotes from tool data) safe for a terminal. */
#ifndef NETSPY_TEXT_H
#define NETSPY_TEXT_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* A malloc'd printf; NULL when out of memory (callers pass it on as a message that may be
 * NULL, see "Error text" in docs/HACKING.md). */
char *text_printf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
char *text_vprintf(const char *fmt, va_list ap) __attribute__((format(printf, 1, 0)));

/* "12,000": a count with thousands separators (a static buffer: one use per statement). */
const char *text_thousands(int64_t n);

/* Removes terminal escape sequences (CSI, OSC, DCS and other ESC forms), C0/C1 control characters
 * (but newline and tab), DEL and invalid UTF-8 from text that may arrive in pieces. */
struct text_filter {
	int state; /* inside an escape sequence, and which kind */
	unsigned char utf8[4];
	int utf8_have, utf8_need;
};

void text_filter_init(struct text_filter *f);
/* Filters len bytes of in into out (which must have room for len + 4 bytes); returns the number
 * of bytes written. */
size_t text_filter_run(struct text_filter *f, const char *in, size_t len, char *out);
/* The whole of a string filtered, malloc'd (NULL on allocation failure). */
char *text_clean(const char *in, size_t len);

#endif
