// narwhal_settings_doc: prints docs/settings.md (generated from the settings table) to stdout.
#include <cstdio>

#include "config/config.h"

int main() {
  std::string text = narwhal::config::settings_markdown();
  return std::fwrite(text.data(), 1, text.size(), stdout) == text.size() ? 0 : 1;
}
