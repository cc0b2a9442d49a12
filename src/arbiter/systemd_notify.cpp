#include "arbiter/systemd_notify.h"

#include <systemd/sd-daemon.h>

namespace narwhal::arbiter {

bool notify_systemd(const std::string& state) {
  // unset_environment=0: a new master forked by USR2 must be able to notify too (MAINPID=).
  return ::sd_notify(0, state.c_str()) > 0;
}

}  // namespace narwhal::arbiter
