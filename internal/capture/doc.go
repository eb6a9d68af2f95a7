// Package capture reads packet capture files (pcap and pcapng) and
// decodes the link, IP and transport layers of a captured frame down to
// its TCP or SCTP payload, for tools that look at captured Diameter
// messages. It trusts nothing in its input: every length is checked.
package capture
