package pbx

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
)

// Locating the registrar follows RFC 3263 §4: a numeric address or a name
// with a port is used as it is (A/AAAA for the name); a name without a
// port is looked up as SRV (_sip._udp, _sip._tcp, or _sips._tcp for TLS,
// §4.1–4.2) and the target with the lowest priority, weighted within it
// (RFC 2782, net.Resolver.LookupSRV), gets the requests; without SRV
// records the name's A/AAAA records on the transport's default port
// (5060, 5061 for TLS). The request-URI keeps the name (§4, the domain
// is what the PBX serves).

// srvService is the SRV service and protocol of the transport (RFC 3263
// §4.1: sips over TLS).
func (g *Gateway) srvService() (service, proto string) {
	switch g.network {
	case "tls":
		return "sips", "tcp"
	case "tcp":
		return "sip", "tcp"
	}
	return "sip", "udp"
}

func (g *Gateway) defaultPort() int {
	if g.network == "tls" {
		return 5061
	}
	return 5060
}

// wantsSRV: the configured PBX address is a name without a port.
func wantsSRV(addr string) bool {
	if _, _, err := net.SplitHostPort(addr); err == nil {
		return false
	}
	_, err := netip.ParseAddr(addr)
	return err != nil
}

// locate resolves where requests to the PBX go. skip picks a later SRV
// target (after the earlier ones did not answer, §4.3 failover).
func (g *Gateway) locate(ctx context.Context, skip int) (netip.AddrPort, []netip.Addr, error) {
	host, port := g.pbxHost, g.pbxPort
	if g.useSRV {
		service, proto := g.srvService()
		_, recs, err := g.resolver.LookupSRV(ctx, service, proto, g.pbxHost)
		var dnsErr *net.DNSError
		switch {
		case err == nil && len(recs) > 0:
			rec := recs[skip%len(recs)]
			host, port = trimDot(rec.Target), int(rec.Port)
			if host == "" {
				// RFC 2782: target "." means the service is not offered.
				return netip.AddrPort{}, nil, fmt.Errorf("sip.registrar %q: its SRV record says there is no SIP service (target \".\")", g.pbxHost)
			}
		case err == nil, errors.As(err, &dnsErr) && dnsErr.IsNotFound:
			port = g.defaultPort() // no SRV records: A/AAAA (§4.2)
		default:
			return netip.AddrPort{}, nil, fmt.Errorf("sip.registrar %q: SRV lookup of _%s._%s.%s: %w", g.pbxHost, service, proto, g.pbxHost, err)
		}
	}
	ips, err := g.resolver.LookupNetIP(ctx, "ip", host)
	if err != nil {
		return netip.AddrPort{}, nil, fmt.Errorf("sip.registrar %q does not resolve (%s): %w", g.pbxHost, host, err)
	}
	if len(ips) == 0 {
		return netip.AddrPort{}, nil, fmt.Errorf("sip.registrar %q does not resolve (%s): no addresses", g.pbxHost, host)
	}
	for i := range ips {
		ips[i] = ips[i].Unmap()
	}
	return netip.AddrPortFrom(ips[0], uint16(port)), ips, nil
}

func trimDot(s string) string {
	if len(s) > 0 && s[len(s)-1] == '.' {
		return s[:len(s)-1]
	}
	return s
}

// resolveRegistrar locates the registrar before a REGISTER: the addresses
// allowed to send us requests, and (SRV) the destination of requests.
func (g *Gateway) resolveRegistrar(ctx context.Context, skip int) error {
	if !g.useSRV && !g.allowRegistrar {
		return nil
	}
	dest, ips, err := g.locate(ctx, skip)
	if err != nil {
		return err
	}
	if g.allowRegistrar {
		g.registrarIPs.Store(&ips)
	}
	if g.useSRV {
		d := net.JoinHostPort(dest.Addr().String(), strconv.Itoa(int(dest.Port())))
		if old := g.pbxDest.Load(); old == nil || *old != d {
			g.log.Info("registrar located", "registrar", g.cfg.Registrar, "address", d)
		}
		g.pbxDest.Store(&d)
	}
	return nil
}

// toPBX addresses a request to the located registrar (SRV); otherwise
// sipgo resolves the request-URI.
func (g *Gateway) toPBX(req interface{ SetDestination(string) }) {
	if d := g.pbxDest.Load(); d != nil {
		req.SetDestination(*d)
	}
}
