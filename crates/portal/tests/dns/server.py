"""A DNS server on loopback for the tests of domain ownership, answering from a zone file the
test rewrites as it goes (read again on every query).

The zone is JSON: {"txt": {"name": ["value", ...]}, "cname": {"name": "target"}}. Names are
lower case, without the final dot. A name in neither is NXDOMAIN. Served over UDP (the answers are small).

    python server.py ZONE_FILE [PORT]   prints "listening PORT" once ready, then serves until killed
"""

import json
import sys
import time

from dnslib import CNAME, QTYPE, RCODE, RR, TXT
from dnslib.server import BaseResolver, DNSLogger, DNSServer


class ZoneResolver(BaseResolver):
    def __init__(self, path):
        self.path = path

    def zone(self):
        try:
            with open(self.path) as f:
                return json.load(f)
        except (OSError, ValueError):
            return {}

    def resolve(self, request, handler):
        zone = self.zone()
        reply = request.reply()
        name = str(request.q.qname).rstrip(".").lower()
        wanted = QTYPE[request.q.qtype]
        cnames = zone.get("cname", {})
        txts = zone.get("txt", {})
        # Follow CNAMEs within the zone, as an authoritative server with both names would.
        for _ in range(8):
            if name not in cnames:
                break
            target = cnames[name].rstrip(".").lower()
            reply.add_answer(RR(name, QTYPE.CNAME, rdata=CNAME(target + "."), ttl=0))
            name = target
        if name in txts:
            if wanted in ("TXT", "ANY"):
                for value in txts[name]:
                    reply.add_answer(RR(name, QTYPE.TXT, rdata=TXT(value), ttl=0))
        elif not reply.rr:
            reply.header.rcode = RCODE.NXDOMAIN
        return reply


def main():
    resolver = ZoneResolver(sys.argv[1])
    wanted = int(sys.argv[2]) if len(sys.argv) > 2 else 0
    # Nothing is logged: the test reads only the first line, then stops listening.
    quiet = DNSLogger("-recv,-send,-request,-reply,-truncated,-error,-data")
    udp = DNSServer(resolver, port=wanted, address="127.0.0.1", logger=quiet)
    port = udp.server.server_address[1]
    udp.start_thread()
    print(f"listening {port}", flush=True)
    while True:
        time.sleep(3600)


if __name__ == "__main__":
    main()
