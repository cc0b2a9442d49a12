// Compatibility forwarder: the heartbeat moved to workers/heartbeat.h (below both the master and
// the workers). Remove once src/workers/sync_worker.cpp includes workers/heartbeat.h and says
// workers::beat / workers::heartbeat_now_ms.
#pragma once

#include "workers/heartbeat.h"

namespace narwhal::arbiter {
using workers::beat;
using workers::heartbeat_now_ms;
using workers::HeartbeatTable;
}  // namespace narwhal::arbiter
