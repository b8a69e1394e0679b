// Package confirm lets zonecast-gateway answer an update only once the
// syncers have applied it (--confirm all|any). Every syncer publishes an
// applied report on a core NATS subject (events.AppliedSubject) as soon
// as its applied sequences advance, and as a heartbeat; the gateway's
// Tracker keeps, per node, whether it is live and what it applied, from
// those reports and from the status bucket, and Wait blocks until the
// mode is satisfied.
//
// The Tracker is the pure core (time comes in as a parameter); Follow is
// the shell that feeds it from NATS.
package confirm
