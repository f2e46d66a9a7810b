/* The event hot path's protobuf encoder: writes netspy.v1.Event messages straight from ring-buffer
 * records, byte for byte what protobuf-c would pack (tests/unit/wire.c holds it to that), at a
 * fraction of the generic packer's cost. Replays and live streams spend their time here. */
#ifndef NETSPYD_WIRE_H
#define NETSPYD_WIRE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "frame.h"
#include "netspy.h"

struct dropnames;

/* Largest encoding of one Event, length-delimited field header included. */
#define WIRE_EVENT_MAX 768

/* Appends one Event (without the field header) to out. Returns bytes written, at most
 * WIRE_EVENT_MAX - 6. data/data_len: a DNS event's bytes (at most NETSPY_DNS_MAX; NULL when gone
 * or for other kinds). */
size_t wire_event(uint8_t *out, const struct netspy_event *e, uint64_t seq,
		  const struct dropnames *names, const uint8_t *data, size_t data_len);

/* Builds a ServerMessage{events: EventBatch} frame from pre-encoded batch contents (a sequence of
 * field-1 length-delimited Events) and appends it to out. 0 or -errno (-EMSGSIZE when the batch
 * does not fit one frame). */
int wire_batch_frame(struct nbuf *out, const uint8_t *events, size_t len);

/* Appends field 1 (Event) of an EventBatch: tag, length, bytes. Returns bytes written. */
size_t wire_batch_entry(uint8_t *out, const struct netspy_event *e, uint64_t seq,
			const struct dropnames *names, const uint8_t *data, size_t data_len);

#endif
