/* old_scan.h — the memmem scans body_json.c replaced (see old_scan.c). */
#ifndef OLD_SCAN_H
#define OLD_SCAN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

bool old_max_tokens(const void *body, size_t len, uint64_t *max);
int old_usage(const void *body, size_t len, uint64_t *total);
uint8_t *old_rename(const char *from, const char *to, const uint8_t *body, size_t len,
                    size_t *out_len);

#endif
