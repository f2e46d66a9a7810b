/* Framing and validation of netspy protocol messages, shared by netspyd and its clients. */
#ifndef NETSPY_FRAME_H
#define NETSPY_FRAME_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "netspy.pb-c.h"

/* Bump it if any message in netspy.proto changes in a way an older peer would misread. */
#define NETSPY_PROTOCOL_VERSION 1

#define NETSPY_FRAME_HEADER_SIZE 4
/* Largest frame a client may send: requests are small. */
#define NETSPY_MAX_CLIENT_FRAME (64u * 1024u)
/* Largest frame the daemon sends: an event batch. */
#define NETSPY_MAX_SERVER_FRAME (1024u * 1024u)
/* Bounds enforced on every decoded message. */
#define NETSPY_MAX_FILTER_PIDS 64
#define NETSPY_MAX_FILTER_COMMS 64
#define NETSPY_MAX_FILTER_KINDS 16
#define NETSPY_COMM_LEN 16 /* TASK_COMM_LEN */
#define NETSPY_MAX_SOFTWARE_LEN 128
#define NETSPY_MAX_TEXT_LEN 1024
#define NETSPY_MAX_BATCH_EVENTS 8192
#define NETSPY_MAX_DNS_BYTES 512 /* Dns.data */
/* Entries in one Counters answer (a few hundred drop reasons at most, a few dozen of the rest). */
#define NETSPY_MAX_COUNTERS 4096

#define NETSPY_DEFAULT_SOCKET "/run/netspy/netspyd.sock"

/* A growable byte buffer. */
struct nbuf {
	uint8_t *data;
	size_t len;
	size_t cap;
};

void nbuf_free(struct nbuf *b);
int nbuf_reserve(struct nbuf *b, size_t extra);
/* Drops the first n bytes. */
void nbuf_consume(struct nbuf *b, size_t n);

/* Writes the 4-byte big-endian length prefix of a frame whose payload is n bytes. */
void frame_put_header(uint8_t *p, size_t n);

/* Appends one frame (length prefix + packed message). Returns 0 or -errno (-EMSGSIZE when the
 * packed message is larger than max_frame). */
int frame_append(struct nbuf *out, const ProtobufCMessage *msg, size_t max_frame);

/* Incremental frame reader over a stream socket. */
struct frame_reader {
	struct nbuf in;
	size_t max_frame;
	size_t pos; /* start of the first unconsumed byte in in.data */
};

void frame_reader_init(struct frame_reader *r, size_t max_frame);
void frame_reader_fini(struct frame_reader *r);
/* One read(2) into the buffer. Returns bytes read (> 0), 0 on EOF, or -errno (-EAGAIN included). */
ssize_t frame_reader_fill(struct frame_reader *r, int fd);
/* Takes the next complete frame from the buffer. Returns 1 with *ret_payload and *ret_len set
 * (valid until the next fill), 0 when no complete frame is buffered yet, -EMSGSIZE when the peer
 * announced a frame larger than max_frame (checked before anything is allocated for it), or
 * -EBADMSG for an empty frame. */
int frame_reader_next(struct frame_reader *r, const uint8_t **ret_payload, size_t *ret_len);
/* Bytes buffered and not yet returned as frames. */
size_t frame_reader_pending(const struct frame_reader *r);

/* Unpack and validate. Return 0 and a message to free with the matching _free_unpacked(), or
 * -EBADMSG when the bytes do not unpack or a field is out of bounds; *ret_error (malloc'd, for the
 * caller to free; NULL when out of memory) then says which. */
int netspy_decode_client(const uint8_t *data, size_t len, Netspy__V1__ClientMessage **ret_msg,
			 char **ret_error);
int netspy_decode_server(const uint8_t *data, size_t len, Netspy__V1__ServerMessage **ret_msg,
			 char **ret_error);

/* The same with a protobuf-c allocator (NULL: malloc), for clients that decode many messages
 * into an arena; free the message with the same allocator. */
int netspy_decode_server_alloc(const uint8_t *data, size_t len, ProtobufCAllocator *alloc,
			       Netspy__V1__ServerMessage **ret_msg, char **ret_error);

/* Validation of one event (used by netspy_decode_server, exposed for tests). NULL when valid,
 * else a static string saying what is wrong. */
const char *netspy_event_invalid(const Netspy__V1__Event *ev);

#endif
