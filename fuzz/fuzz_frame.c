/* Fuzzes the protocol's reading side: bytes from a hostile peer go through the incremental frame
 * reader (from a pipe, as from a socket) and every frame through both validating decoders. Checks,
 * beyond "no crash, no leak, no undefined behaviour": the reader yields the same frames whether
 * the bytes arrive at once or a few at a time, never a frame over its limit, and every message the
 * decoders accept packs and decodes again. */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "frame.h"

#define FEED_MAX_FRAMES 4096

struct feed_result {
	size_t n_frames;
	size_t lens[FEED_MAX_FRAMES];
	int end; /* 0, or the reader's error */
};

static int pipe_fds[2] = { -1, -1 };

static void check(int cond)
{
	if (!cond)
		abort();
}

/* protobuf-c keeps unknown fields and packs them again, but accepts some tags it will not accept
 * once packed canonically (a field number 0 spelled as a two-byte varint): messages carrying
 * unknown fields are exempt from the round-trip check. Neither side forwards them. */
static int has_unknown(const ProtobufCMessage *m)
{
	const ProtobufCMessageDescriptor *d = m->descriptor;

	if (m->n_unknown_fields)
		return 1;
	for (unsigned i = 0; i < d->n_fields; i++) {
		const ProtobufCFieldDescriptor *f = &d->fields[i];
		const char *at = (const char *)m + f->offset;

		if (f->type != PROTOBUF_C_TYPE_MESSAGE)
			continue;
		if (f->label == PROTOBUF_C_LABEL_REPEATED) {
			size_t n = *(const size_t *)((const char *)m + f->quantifier_offset);
			ProtobufCMessage *const *v = *(ProtobufCMessage *const *const *)at;

			for (size_t j = 0; j < n; j++)
				if (has_unknown(v[j]))
					return 1;
		} else if (*(ProtobufCMessage *const *)at &&
			   has_unknown(*(ProtobufCMessage *const *)at)) {
			return 1;
		}
	}
	return 0;
}

static void recheck_client(const Netspy__V1__ClientMessage *m)
{
	struct nbuf b = { 0 };
	Netspy__V1__ClientMessage *again = NULL;
	char *why = NULL;

	if (!has_unknown(&m->base) && frame_append(&b, &m->base, NETSPY_MAX_CLIENT_FRAME) == 0) {
		check(netspy_decode_client(b.data + NETSPY_FRAME_HEADER_SIZE,
					   b.len - NETSPY_FRAME_HEADER_SIZE, &again, &why) == 0);
		netspy__v1__client_message__free_unpacked(again, NULL);
	}
	free(why);
	nbuf_free(&b);
}

static void recheck_server(const Netspy__V1__ServerMessage *m)
{
	struct nbuf b = { 0 };
	Netspy__V1__ServerMessage *again = NULL;
	char *why = NULL;

	if (!has_unknown(&m->base) && frame_append(&b, &m->base, NETSPY_MAX_SERVER_FRAME) == 0) {
		check(netspy_decode_server(b.data + NETSPY_FRAME_HEADER_SIZE,
					   b.len - NETSPY_FRAME_HEADER_SIZE, &again, &why) == 0);
		netspy__v1__server_message__free_unpacked(again, NULL);
	}
	free(why);
	nbuf_free(&b);
}

static void decode_both_ways(const uint8_t *p, size_t len)
{
	Netspy__V1__ClientMessage *cm = NULL;
	Netspy__V1__ServerMessage *sm = NULL;
	char *why = NULL;

	if (netspy_decode_client(p, len, &cm, &why) == 0) {
		recheck_client(cm);
		netspy__v1__client_message__free_unpacked(cm, NULL);
	} else {
		check(why != NULL);
	}
	free(why);
	why = NULL;
	if (netspy_decode_server(p, len, &sm, &why) == 0) {
		recheck_server(sm);
		netspy__v1__server_message__free_unpacked(sm, NULL);
	} else {
		check(why != NULL);
	}
	free(why);
}

/* Takes every complete frame out of the reader; returns 0, or the reader's error. */
static int take_frames(struct frame_reader *r, struct feed_result *res, int decode)
{
	const uint8_t *p;
	size_t len;
	int n;

	while ((n = frame_reader_next(r, &p, &len)) == 1) {
		check(len > 0 && len <= r->max_frame);
		if (res->n_frames < FEED_MAX_FRAMES)
			res->lens[res->n_frames] = len;
		res->n_frames++;
		if (decode)
			decode_both_ways(p, len);
	}
	check(n == 0 || n == -EMSGSIZE || n == -EBADMSG);
	return n;
}

/* Feeds data through a pipe in pieces of at most chunk bytes, as a daemon reads a socket. */
static void feed(const uint8_t *data, size_t size, size_t chunk, int decode,
		 struct feed_result *res)
{
	struct frame_reader r;
	size_t off = 0;

	frame_reader_init(&r, NETSPY_MAX_SERVER_FRAME);
	res->n_frames = 0;
	res->end = 0;
	while (off < size && !res->end) {
		size_t n = size - off < chunk ? size - off : chunk;
		ssize_t got;

		check(write(pipe_fds[1], data + off, n) == (ssize_t)n);
		off += n;
		got = frame_reader_fill(&r, pipe_fds[0]);
		check(got == (ssize_t)n);
		res->end = take_frames(&r, res, decode);
	}
	frame_reader_fini(&r);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct feed_result whole, pieces;
	size_t chunk = 1 + size % 7;

	if (pipe_fds[0] < 0) {
		check(pipe2(pipe_fds, O_NONBLOCK | O_CLOEXEC) == 0);
		/* Every write must fit: pieces are at most 64 KiB, the default pipe size. */
		(void)fcntl(pipe_fds[1], F_SETPIPE_SZ, 1 << 20);
	}
	if (size > 1 << 20)
		return 0;
	feed(data, size, 65536, 1, &whole);
	feed(data, size, chunk, 0, &pieces);
	check(whole.n_frames == pieces.n_frames && whole.end == pieces.end);
	for (size_t i = 0; i < whole.n_frames && i < FEED_MAX_FRAMES; i++)
		check(whole.lens[i] == pieces.lens[i]);
	return 0;
}
