/* SPDX-License-Identifier: MIT */
/*
 * net.c - loopback up inside the job's network namespace, over rtnetlink.
 *
 * Owns: the netlink request and its ack. Must not: open anything but the child's own rtnetlink
 * socket; there is no veth, no route, no DNS: egress is impossible by construction (T17, T18).
 */
#include <libmnl/libmnl.h>
#include <linux/if.h>
#include <linux/rtnetlink.h>
#include <string.h>
#include <sys/socket.h>

#include "net.h"
#include "util.h"

#define LO_IFINDEX 1

int net_plan_init(struct net_plan *ret, struct sbx_error *err)
{
	struct nlmsghdr *nlh;
	struct ifinfomsg *ifm;

	memset(ret, 0, sizeof(*ret));
	if (sizeof(ret->req) < MNL_ALIGN(sizeof(*nlh)) + MNL_ALIGN(sizeof(*ifm)))
		return sbx_err_msg(err, EINVAL, "netlink request buffer too small");
	ret->seq = 1;
	nlh = mnl_nlmsg_put_header(ret->req);
	nlh->nlmsg_type = RTM_NEWLINK;
	nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK;
	nlh->nlmsg_seq = ret->seq;
	ifm = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifm));
	ifm->ifi_family = AF_UNSPEC;
	ifm->ifi_index = LO_IFINDEX; /* lo is always ifindex 1 in a new namespace */
	ifm->ifi_flags = IFF_UP;
	ifm->ifi_change = IFF_UP;
	ret->len = nlh->nlmsg_len;
	return 0;
}

int net_lo_up(const struct net_plan *p)
{
	struct sockaddr_nl sa = { .nl_family = AF_NETLINK };
	char buf[512];
	ssize_t n;
	int fd, r;

	fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
	if (fd < 0)
		return -errno;
	if (sendto(fd, p->req, p->len, 0, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		r = -errno;
		goto close_fd;
	}
	n = recv(fd, buf, sizeof(buf), 0);
	if (n < 0) {
		r = -errno;
		goto close_fd;
	}
	/* mnl_cb_run turns an NLMSG_ERROR ack into -1 with errno set; 0 is a clean ack. */
	r = mnl_cb_run(buf, (size_t)n, p->seq, 0, NULL, NULL) < 0 ? -errno : 0;
close_fd:
	close(fd);
	return r;
}
