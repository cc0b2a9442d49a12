// AllowList: forwarded_allow_ips / proxy_allow_ips / uwsgi_allow_ips matching.
#include "net/allow_list.h"

#include <gtest/gtest.h>

namespace narwhal::net {
namespace {

TEST(AllowList, AddressesNetworksAndWildcard) {
  AllowList list({"127.0.0.1", "::1", "10.0.0.0/8", "2001:db8::/32", "192.168.1.128/25"});
  EXPECT_TRUE(list.allows("127.0.0.1", false));
  EXPECT_TRUE(list.allows("::1", false));
  EXPECT_TRUE(list.allows("10.200.3.4", false));
  EXPECT_TRUE(list.allows("2001:db8:1::5", false));
  EXPECT_TRUE(list.allows("192.168.1.200", false));
  EXPECT_FALSE(list.allows("192.168.1.100", false));
  EXPECT_FALSE(list.allows("127.0.0.2", false));
  EXPECT_FALSE(list.allows("::ffff:127.0.0.1", false));  // a mapped address is not the IPv4 one
  EXPECT_FALSE(list.allows("", false));
  EXPECT_FALSE(list.allows("not-an-ip", false));
  EXPECT_TRUE(list.allows("", true));  // unix sockets are always allowed
  EXPECT_FALSE(list.allows_everyone());
  AllowList everyone({"*"});
  EXPECT_TRUE(everyone.allows("203.0.113.9", false));
  EXPECT_TRUE(everyone.allows_everyone());
  AllowList none(std::vector<std::string>{});
  EXPECT_FALSE(none.allows("127.0.0.1", false));
  EXPECT_TRUE(none.allows("", true));
}

TEST(AllowList, ParseNetwork) {
  IpNetwork network;
  EXPECT_TRUE(parse_ip_network("10.0.0.0/8", &network));
  EXPECT_EQ(network.prefix_bits, 8);
  EXPECT_FALSE(parse_ip_network("10.0.0.0/33", &network));
  EXPECT_FALSE(parse_ip_network("10.0.0.0/", &network));
  EXPECT_FALSE(parse_ip_network("localhost", &network));
  EXPECT_TRUE(parse_ip_network("::/0", &network));
}

}  // namespace
}  // namespace narwhal::net
