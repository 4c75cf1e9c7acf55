"""Billing from the event stream: a consumer of its own that turns server lifecycle events into usage.

What is billed, and how (`chronova.billing.fold.BILLING_BY_VM_STATE` is the one table):

- Nova's os-simple-tenant-usage counts a server from `launched_at` to `terminated_at` whatever its state,
  and prices hours times the flavor's vcpus, memory and local disk. Common billing (Ceilometer's
  `instance` meter rated by state, CloudKitty) splits that time by state instead. Chronova keeps the split:
  each server's life is cut into segments, one per (billing category, flavor), and usage is their sum.
- Categories: **running** (active, paused, rescued, resized: the guest exists and may run),
  **stopped** (stopped, suspended, soft-deleted: the guest is off but still on its host and restorable),
  **shelved** (shelved, shelved_offloaded). Building, error and deleted are not billed.
- Resource hours (vcpu, ram, disk) accrue while the server holds its placement allocation on a host: in
  every billed state but shelved_offloaded, which has given its host back.
- A flavor change (resize: the flavor in an event's `changes`) starts a new segment on the new flavor, so a
  server resized mid-month shows one usage record per flavor.
"""
