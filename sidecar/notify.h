/*
 * notify.h — alert notifications to webhooks and Alertmanager (notify.c).
 */
#ifndef SC_NOTIFY_H
#define SC_NOTIFY_H

#include "sidecar.h"

typedef struct sc_alert_note {
    const char *name, *severity, *summary;
    bool firing;                  /* else resolved */
    double value, threshold;
    uint64_t starts_ms, ends_ms;  /* Unix ms */
} sc_alert_note;

/* Queue the note for every webhook and Alertmanager (alertmanager_only:
 * the periodic re-send Alertmanager wants of a firing alert). */
void sc_notify(sc_daemon *d, const sc_alert_note *n, bool alertmanager_only);
/* Send what is due (the queue's own backoff). */
void sc_notify_tick(sc_daemon *d, uint64_t now);
static inline uint64_t sc_notify_due(const sc_daemon *d)
{
    return d->notify.head ? d->notify.due : UINT64_MAX;
}
void sc_notify_destroy(sc_daemon *d);

#endif
