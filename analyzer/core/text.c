/* Text for people. The filter makes model output safe for a terminal: a model (or text it quotes
 * from tool data) can emit escape sequences that would rewrite the screen, set the window title or
 * hide text. It is a small state machine so that it works on streamed pieces split anywhere. */
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "core/text.h"

char *text_vprintf(const char *fmt, va_list ap)
{
	char *s;

	if (vasprintf(&s, fmt, ap) < 0)
		s = NULL;
	return s;
}

char *text_printf(const char *fmt, ...)
{
	va_list ap;
	char *s;

	va_start(ap, fmt);
	s = text_vprintf(fmt, ap);
	va_end(ap);
	return s;
}

enum { TF_TEXT, TF_ESC, TF_CSI, TF_STRING, TF_STRING_ESC, TF_ESC_INTER };

void text_filter_init(struct text_filter *f)
{
	f->state = TF_TEXT;
	f->utf8_have = f->utf8_need = 0;
}

/* Inside an escape sequence: consumes c, returns true while the sequence goes on. */
static bool filter_escape(struct text_filter *f, unsigned char c)
{
	switch (f->state) {
	case TF_ESC:
		if (c == '[')
			f->state = TF_CSI;
		else if (c == ']' || c == 'P' || c == 'X' || c == '^' || c == '_')
			f->state = TF_STRING; /* OSC, DCS, SOS, PM, APC: run to BEL or ST */
		else if (c >= 0x20 && c <= 0x2f)
			f->state = TF_ESC_INTER;
		else
			f->state = TF_TEXT; /* a two-byte sequence (or a stray ESC): drop both */
		return true;
	case TF_CSI:
		if (c >= 0x40 && c <= 0x7e)
			f->state = TF_TEXT;
		else if (c < 0x20 || c >= 0x7f)
			f->state = TF_TEXT; /* malformed: stop swallowing text */
		return true;
	case TF_STRING:
		/* A newline also ends it, so that an unterminated OSC cannot eat the answer. */
		if (c == 0x07 || c == '\n')
			f->state = TF_TEXT;
		else if (c == 0x1b)
			f->state = TF_STRING_ESC;
		return true;
	case TF_STRING_ESC:
		f->state = c == '\\' ? TF_TEXT : TF_STRING;
		return true;
	case TF_ESC_INTER:
		if (c < 0x20 || c > 0x2f)
			f->state = TF_TEXT;
		return true;
	}
	return false;
}

/* A complete UTF-8 sequence: valid, not a C1 control, not a bidirectional override. A C1 control
 * that opens a sequence (CSI, OSC, DCS...) also swallows the sequence, as terminals that honour
 * 8-bit controls would read it. */
static bool utf8_acceptable(struct text_filter *f, const unsigned char *s, int n)
{
	static const uint32_t min[5] = { 0, 0, 0x80, 0x800, 0x10000 };
	uint32_t cp = s[0] & (0x7f >> n);
	int i;

	for (i = 1; i < n; i++)
		cp = cp << 6 | (s[i] & 0x3f);
	if (cp < min[n] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return false;
	if (cp == 0x9b)
		f->state = TF_CSI;
	else if (cp == 0x90 || cp == 0x98 || cp == 0x9d || cp == 0x9e || cp == 0x9f)
		f->state = TF_STRING;
	if (cp <= 0x9f)
		return false; /* C1 controls */
	if ((cp >= 0x202a && cp <= 0x202e) || (cp >= 0x2066 && cp <= 0x2069) || cp == 0x200e ||
	    cp == 0x200f || cp == 0x061c)
		return false; /* bidirectional controls */
	return true;
}

static size_t filter_byte(struct text_filter *f, unsigned char c, char *out)
{
	size_t n = 0;

	if (f->utf8_need) {
		if ((c & 0xc0) == 0x80) {
			f->utf8[f->utf8_have++] = c;
			if (f->utf8_have < f->utf8_need)
				return 0;
			if (utf8_acceptable(f, f->utf8, f->utf8_need))
				for (n = 0; n < (size_t)f->utf8_need; n++)
					out[n] = (char)f->utf8[n];
			f->utf8_need = f->utf8_have = 0;
			return n;
		}
		f->utf8_need = f->utf8_have = 0; /* truncated sequence: dropped */
	}
	if (f->state != TF_TEXT && filter_escape(f, c))
		return 0;
	if (c == 0x1b) {
		f->state = TF_ESC;
		return 0;
	}
	if (c == '\n' || c == '\t' || (c >= 0x20 && c < 0x7f)) {
		out[0] = (char)c;
		return 1;
	}
	if (c >= 0xc2 && c <= 0xf4) {
		f->utf8[0] = c;
		f->utf8_have = 1;
		f->utf8_need = c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : 2;
	}
	return 0; /* other controls, DEL, stray continuation or invalid lead bytes */
}

size_t text_filter_run(struct text_filter *f, const char *in, size_t len, char *out)
{
	size_t i, n = 0;

	for (i = 0; i < len; i++)
		n += filter_byte(f, (unsigned char)in[i], out + n);
	return n;
}

char *text_clean(const char *in, size_t len)
{
	struct text_filter f;
	char *out = malloc(len + 5);
	size_t n;

	if (!out)
		return NULL;
	text_filter_init(&f);
	n = text_filter_run(&f, in, len, out);
	out[n] = '\0';
	return out;
}

const char *text_thousands(int64_t n)
{
	static char buf[32];
	char tmp[32];
	int len = snprintf(tmp, sizeof(tmp), "%lld", (long long)(n < 0 ? -n : n)), o = 0;

	if (n < 0)
		buf[o++] = '-';
	for (int i = 0; i < len; i++) {
		if (i && (len - i) % 3 == 0)
			buf[o++] = ',';
		buf[o++] = tmp[i];
	}
	buf[o] = 0;
	return buf;
}
