#include "net/allow_list.h"

#include <arpa/inet.h>
#include <sys/socket.h>

#include <algorithm>
#include <cstring>

namespace narwhal::net {
namespace {

bool parse_ip(const std::string& text, int* family, unsigned char* bytes) {
  if (inet_pton(AF_INET, text.c_str(), bytes) == 1) {
    *family = AF_INET;
    return true;
  }
  if (inet_pton(AF_INET6, text.c_str(), bytes) == 1) {
    *family = AF_INET6;
    return true;
  }
  return false;
}

bool in_network(const IpNetwork& network, int family, const unsigned char* bytes) {
  if (family != network.family) return false;
  const int whole = network.prefix_bits / 8;
  if (std::memcmp(bytes, network.bytes, static_cast<size_t>(whole)) != 0) return false;
  const int rest = network.prefix_bits % 8;
  if (rest == 0) return true;
  const auto mask = static_cast<unsigned char>(0xFF << (8 - rest));
  return (bytes[whole] & mask) == (network.bytes[whole] & mask);
}

}  // namespace

bool parse_ip_network(std::string_view text, IpNetwork* network) {
  const size_t slash = text.find('/');
  if (!parse_ip(std::string(text.substr(0, slash)), &network->family, network->bytes)) return false;
  const int max_bits = network->family == AF_INET ? 32 : 128;
  network->prefix_bits = max_bits;
  if (slash == std::string_view::npos) return true;
  const std::string_view bits = text.substr(slash + 1);
  auto digit = [](char c) { return c >= '0' && c <= '9'; };
  if (bits.empty() || bits.size() > 3 || !std::all_of(bits.begin(), bits.end(), digit)) return false;
  network->prefix_bits = std::stoi(std::string(bits));
  return network->prefix_bits <= max_bits;
}

void AllowList::assign(const std::vector<std::string>& entries) {
  everyone_ = false;
  networks_.clear();
  for (const std::string& entry : entries) {
    IpNetwork network;
    if (entry == "*") everyone_ = true;
    else if (parse_ip_network(entry, &network)) networks_.push_back(network);
  }
}

bool AllowList::allows(const std::string& host, bool is_unix) const {
  if (is_unix || everyone_) return true;
  int family = 0;
  unsigned char bytes[16];
  if (networks_.empty() || !parse_ip(host, &family, bytes)) return false;
  return std::any_of(networks_.begin(), networks_.end(),
                     [&](const IpNetwork& network) { return in_network(network, family, bytes); });
}

}  // namespace narwhal::net
