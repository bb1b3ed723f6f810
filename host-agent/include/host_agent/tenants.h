// Tenant storage outside the System VM.
//
// In mode system-vm a tenant's files live on the System VM's ext4 disk and only the System VM
// reads them. In mode in-process they live in a host directory per tenant under the agent's
// state dir; this file creates those directories and seeds the default tenant the way the
// System VM image seeds it (busybox in /bin, a /tmp).
#pragma once

#include <string>

#include "common/result.h"
#include "host_agent/config.h"

namespace tw::agent {

// Creates the in-process root of `tenant` if missing; `tenant` must be listed in the config.
Result<void> EnsureInProcessTenant(const AgentConfig& config, const std::string& tenant);

// Copies the System VM disk template to the state dir unless a disk is already there; the
// copy is the tenants' storage from then on and persists across System VM restarts.
Result<void> EnsureSystemVmDisk(const AgentConfig& config);

}  // namespace tw::agent
