// Which peers may do something only a trusted front end may do: forwarded_allow_ips,
// proxy_allow_ips, uwsgi_allow_ips. Entries are addresses ("192.168.1.1", "::1"), CIDR networks
// ("10.0.0.0/8") or "*"; unix-socket peers are always allowed (gunicorn: "connections not
// associated with an IP address are treated as allowed, unconditionally").
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace narwhal::net {

struct IpNetwork {
  int family = 0;  // AF_INET or AF_INET6
  unsigned char bytes[16] = {};
  int prefix_bits = 0;
};

// "ADDRESS" or "ADDRESS/BITS"; false when it is neither (the settings table has validated it).
bool parse_ip_network(std::string_view text, IpNetwork* network);

class AllowList {
 public:
  AllowList() = default;
  explicit AllowList(const std::vector<std::string>& entries) { assign(entries); }
  void assign(const std::vector<std::string>& entries);
  // `host`: the peer's address as text (net::PeerAddress::host).
  bool allows(const std::string& host, bool is_unix) const;
  bool allows_everyone() const { return everyone_; }

 private:
  bool everyone_ = false;
  std::vector<IpNetwork> networks_;
};

}  // namespace narwhal::net
