package validators

import (
	"cmp"
	"fmt"
	"maps"
	"net"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/apimachinery/pkg/util/version"
)

// UpstreamsAnnotation is the pod annotation consul-k8s reads a sidecar's upstreams from, in
// its endpoints controller, only once the pod exists: never at admission.
const UpstreamsAnnotation = "consul.hashicorp.com/connect-service-upstreams"

// AnnotationGrammar is the dialect of the upstreams annotation one consul-k8s release reads.
// The zero value is the newest.
type AnnotationGrammar int

// The grammars. consul-k8s 0.x (since the endpoints controller) and every 1.x read the same
// one; 2.0 added options after the port.
const (
	// AnnotationGrammar2 is consul-k8s 2.x: options after the port (k=v joined by & or ;),
	// a "dc?" prefix on unlabeled entries, a destination port on labeled ones.
	AnnotationGrammar2 AnnotationGrammar = iota
	// AnnotationGrammar1 is consul-k8s 1.x (and 0.x): a datacenter after the port of an
	// unlabeled entry, nothing after the port of a labeled one.
	AnnotationGrammar1
)

func (g AnnotationGrammar) String() string {
	if g == AnnotationGrammar1 {
		return "consul-k8s 1.x"
	}
	return "consul-k8s 2.x"
}

// ParseAnnotationGrammar picks the grammar of a consul-k8s version such as 1.6.2, v2.0.1 or
// 1.9.0+ent; the empty string means the newest.
func ParseAnnotationGrammar(consulK8sVersion string) (AnnotationGrammar, error) {
	if consulK8sVersion == "" {
		return AnnotationGrammar2, nil
	}
	s := strings.TrimPrefix(strings.SplitN(consulK8sVersion, "+", 2)[0], "v")
	v, err := version.ParseGeneric(s)
	if err != nil {
		return 0, fmt.Errorf("consul-k8s version %q: %w", consulK8sVersion, err)
	}
	if v.Major() < 2 {
		return AnnotationGrammar1, nil
	}
	return AnnotationGrammar2, nil
}

// AnnotationOptions is what the parser needs to read an annotation as consul-k8s would.
type AnnotationOptions struct {
	// NamespacesEnabled and PartitionsEnabled mirror the consul-k8s install: with either on,
	// an unlabeled entry's dotted parts are a namespace and a partition, and labeled entries
	// take the six-label form.
	NamespacesEnabled bool
	PartitionsEnabled bool
	// Grammar is the consul-k8s version's dialect (ParseAnnotationGrammar); zero is the newest.
	Grammar AnnotationGrammar
	// ContainerPorts maps the port names of the pod's containers (spec.containers only, as
	// consul-k8s reads them; ContainerPorts builds it) to their numbers.
	ContainerPorts map[string]int32
}

// AnnotationEntry is one comma-separated entry of the annotation as consul-k8s would read it.
// The parser reports only what makes consul-k8s refuse the entry (Syntax); every other rule
// judges the entry as it judges a ServiceDefaults override (view.go).
type AnnotationEntry struct {
	// Index is the position of the entry in the list, from 0.
	Index int
	// Raw is the entry as written, blanks around it trimmed.
	Raw string
	// Labeled is true for the svc.svc[...] form.
	Labeled bool
	// PreparedQuery is the query name of a prepared_query entry; Service is then empty.
	PreparedQuery string
	Service       string
	Namespace     string
	Partition     string
	Peer          string
	Datacenter    string
	// LocalBindPort is the port the sidecar listens on, a container port name resolved;
	// 0 when missing or not a positive number.
	LocalBindPort    int32
	LocalBindAddress string
	MeshGatewayMode  string
	// DestinationPort is the port name of the destination service (2.x).
	DestinationPort string
	// PeerForm is true for a labeled entry ending in .peer, even with an empty peer name.
	PeerForm bool
	// Syntax are the reasons consul-k8s cannot parse the entry, each quoting it, saying what
	// consul-k8s or Consul does with it and how to write it.
	Syntax []string

	// nameParts are the dot-separated parts of an unlabeled entry's name, trimmed, and port
	// the local port as written: the unlabeled-peer rule suggests the labeled form from them.
	nameParts []string
	port      string
}

// ContainerPorts returns the named ports of a pod's containers as consul-k8s resolves a
// port name: spec.containers only, the first container declaring a name wins.
func ContainerPorts(spec *corev1.PodSpec) map[string]int32 {
	var ports map[string]int32
	for i := range spec.Containers {
		for _, p := range spec.Containers[i].Ports {
			if p.Name == "" {
				continue
			}
			if ports == nil {
				ports = make(map[string]int32)
			}
			if _, seen := ports[p.Name]; !seen {
				ports[p.Name] = p.ContainerPort
			}
		}
	}
	return ports
}

// AnnotationPath is the field path of the upstreams annotation under a metadata path:
// metadata, spec.template.metadata or spec.jobTemplate.spec.template.metadata.
func AnnotationPath(metadata *field.Path) *field.Path {
	return metadata.Child("annotations").Key(UpstreamsAnnotation)
}

// ParseUpstreamAnnotation reads the upstreams annotation as consul-k8s's endpoints controller
// does: split on "," only, each entry trimmed, then "prepared_query:", a labeled entry (second
// dot-separated part exactly "svc") or an unlabeled one. Each entry carries what consul-k8s
// would register and why consul-k8s cannot parse it; an empty annotation has no entries.
func ParseUpstreamAnnotation(value string, opts AnnotationOptions) []AnnotationEntry {
	if value == "" {
		return nil // consul-k8s skips an empty annotation
	}
	entries := make([]AnnotationEntry, 0, min(strings.Count(value, ",")+1, MaxAnnotationEntries+1))
	rest := value
	for i := 0; ; i++ {
		item, after, more := strings.Cut(rest, ",")
		if i == MaxAnnotationEntries {
			e := AnnotationEntry{Index: i, Raw: clip(strings.TrimSpace(item), MaxAnnotationEntryLength)}
			e.Syntax = append(e.Syntax, fmt.Sprintf("more than %d entries; the rest are not checked", MaxAnnotationEntries))
			entries = append(entries, e)
			break
		}
		entries = append(entries, parseEntry(i, item, &opts))
		if !more {
			break
		}
		rest = after
	}
	return entries
}

func (e *AnnotationEntry) syntax(format string, args ...any) {
	e.Syntax = append(e.Syntax, e.Quoted()+": "+fmt.Sprintf(format, args...))
}

// Quoted is the entry as messages show it: quoted, escaped, cut to a few dozen characters.
// Rules that judge an entry against the cluster (a peer that no PeeringAcceptor or
// PeeringDialer names, mode local without a gateway) start their messages with it too.
func (e *AnnotationEntry) Quoted() string { return quoteShort(e.Raw) }

// word is s, trimmed and clipped to n runes, for a hint the reader can copy; fallback when s is
// empty or holds blanks, quotes or unprintable characters.
func word(s string, n int, fallback string) string {
	s = strings.TrimSpace(s)
	if s == "" || strings.ContainsFunc(s, func(r rune) bool { return unicode.IsSpace(r) || !unicode.IsPrint(r) || r == '"' }) {
		return fallback
	}
	return clip(s, n)
}

// entryParse is the state of reading one entry.
type entryParse struct {
	e    *AnnotationEntry
	opts *AnnotationOptions
	// parts are the entry split on ":" into at most 3: name, port, extra.
	parts []string
}

func parseEntry(i int, item string, opts *AnnotationOptions) AnnotationEntry {
	e := AnnotationEntry{Index: i, Raw: strings.TrimSpace(item)}
	switch {
	case e.Raw == "":
		e.Syntax = append(e.Syntax, `empty entry (an extra ","); registration fails, remove it`)
		return e
	case len(e.Raw) > MaxAnnotationEntryLength:
		e.Raw = clip(e.Raw, MaxAnnotationEntryLength)
		e.syntax("over %d bytes, no upstream is; not checked further", MaxAnnotationEntryLength)
		return e
	case separatedByBlanks(e.Raw):
		e.syntax(`entries split by blanks or new lines; separate them with ","`)
		return e
	}
	p := &entryParse{e: &e, opts: opts, parts: strings.SplitN(e.Raw, ":", 3)}
	head := p.parts[0]
	switch {
	case strings.TrimSpace(head) == "prepared_query":
		p.preparedQuery()
		return e
	case isLabeled(head):
		e.Labeled = true
		p.localPort()
		p.labeled(head)
	default:
		p.localPort()
		p.unlabeled(head)
	}
	p.destination()
	return e
}

// separatedByBlanks reports whether blanks separate what look like several entries
// ("a:1 b:2"): consul-k8s splits on commas only and reads one broken entry.
func separatedByBlanks(s string) bool {
	if !strings.ContainsFunc(s, unicode.IsSpace) {
		return false
	}
	n := 0
	for _, f := range strings.Fields(s) {
		if i := strings.Index(f, ":"); i > 0 && i < len(f)-1 {
			n++
		}
	}
	return n >= 2
}

// isLabeled is consul-k8s's test: the second dot-separated part, untrimmed, is "svc".
func isLabeled(head string) bool {
	_, rest, ok := strings.Cut(head, ".")
	if !ok {
		return false
	}
	second, _, _ := strings.Cut(rest, ".")
	return second == "svc"
}

func (p *entryParse) preparedQuery() {
	e := p.e
	if len(p.parts) < 3 {
		e.syntax("write prepared_query:<query>:<port>; registration fails")
		return
	}
	e.PreparedQuery = strings.TrimSpace(p.parts[1])
	if e.PreparedQuery == "" {
		e.syntax("no query name; write prepared_query:<query>:<port>")
	}
	p.port(p.parts[2])
}

func (p *entryParse) localPort() {
	if len(p.parts) < 2 {
		p.e.syntax("no local port; registration fails, write %s:<port>", word(p.parts[0], 20, "svc"))
		return
	}
	p.e.port = p.parts[1]
	p.port(p.parts[1])
}

// port resolves the local port as consul-k8s does: a container port name first, else an
// integer in Go syntax (base prefixes included, so a leading 0 means octal).
func (p *entryParse) port(token string) {
	e := p.e
	tok := strings.TrimSpace(token)
	if tok == "" {
		e.syntax("no local port after the colon; registration fails")
		return
	}
	if n, ok := p.opts.ContainerPorts[tok]; ok {
		if n > 0 {
			e.LocalBindPort = n
		}
		return
	}
	n, err := strconv.ParseInt(tok, 0, 32)
	switch {
	case err != nil && startsWithLetter(tok):
		e.syntax("no container port named %s; registration fails", quoteShort(tok))
	case err != nil:
		e.syntax("port %s is not a number; registration fails", quoteShort(tok))
	case n <= 0:
		e.syntax("local port %d is not 1-65535; registration fails", n)
	case n > 65535:
		e.LocalBindPort = int32(n)
		e.syntax("local port %d is not 1-65535; Envoy cannot listen on it", n)
	default:
		e.LocalBindPort = int32(n)
		if len(tok) > 1 && tok[0] == '0' && tok[1] >= '0' && tok[1] <= '9' {
			e.syntax("consul-k8s reads %s as octal %d; drop the leading 0", tok, n)
		}
	}
}

func startsWithLetter(s string) bool {
	r, _ := utf8.DecodeRuneInString(s)
	return unicode.IsLetter(r)
}

func (p *entryParse) namespacesOrPartitions() bool {
	return p.opts.NamespacesEnabled || p.opts.PartitionsEnabled
}

// labeledHint is how a labeled entry is written under the install's settings.
func (p *entryParse) labeledHint() string {
	if p.namespacesOrPartitions() {
		return "svc.svc.ns.ns[.X.peer|ap|dc]:port"
	}
	return "svc.svc[.X.peer|dc]:port"
}

func (p *entryParse) labeled(head string) {
	e := p.e
	pieces := strings.Split(head, ".")
	for i := range pieces {
		pieces[i] = strings.TrimSpace(pieces[i])
	}
	var end, value string
	if p.namespacesOrPartitions() {
		switch len(pieces) {
		case 2:
		case 4:
			if pieces[3] != "ns" {
				p.labelProblem(pieces[3], pieces)
				return
			}
			p.labelValue(&e.Namespace, pieces[2], "namespace")
		case 6:
			if pieces[3] != "ns" {
				e.syntax("the 4th label must be ns; write %s", p.labeledHint())
				return
			}
			end, value = pieces[5], pieces[4]
			if end != "peer" && end != "ap" && end != "dc" {
				p.labelProblem(end, pieces)
				return
			}
			p.labelValue(&e.Namespace, pieces[2], "namespace")
		default:
			e.syntax("%d labels; consul-k8s refuses it, write %s", len(pieces), p.labeledHint())
			return
		}
	} else {
		switch len(pieces) {
		case 2:
		case 4:
			end, value = pieces[3], pieces[2]
			if end != "peer" && end != "dc" {
				p.labelProblem(end, pieces)
				return
			}
		case 6:
			if pieces[3] == "ns" {
				e.syntax("namespaces and partitions are off; write %s", p.labeledHint())
				return
			}
			e.syntax("6 labels; consul-k8s refuses it, write %s", p.labeledHint())
			return
		default:
			e.syntax("%d labels; consul-k8s refuses it, write %s", len(pieces), p.labeledHint())
			return
		}
	}
	e.Service = pieces[0]
	switch end {
	case "peer":
		e.PeerForm = true
		e.Peer = value
	case "ap":
		p.labelValue(&e.Partition, value, "partition")
	case "dc":
		p.labelValue(&e.Datacenter, value, "datacenter")
	}
	if len(p.parts) == 3 {
		p.labeledExtra(strings.TrimSpace(p.parts[2]))
	}
}

// labelProblem explains a label consul-k8s does not accept where it stands.
func (p *entryParse) labelProblem(label string, pieces []string) {
	e := p.e
	on := p.namespacesOrPartitions()
	switch {
	case on && len(pieces) == 4 && (label == "peer" || label == "ap" || label == "dc"):
		e.syntax("namespaces or partitions on: write %s.svc.default.ns.%s.%s%s", word(pieces[0], 12, "svc"), word(pieces[2], 12, "X"), label, p.portHint())
	case !on && (label == "ns" || label == "ap"):
		e.syntax(".%s needs namespaces or partitions (off); write %s", label, p.labeledHint())
	default:
		e.syntax("label %s is not consul-k8s's; write %s", quoteShort(label), p.labeledHint())
	}
}

func (p *entryParse) labelValue(dst *string, value, what string) {
	if value == "" {
		p.e.syntax("empty %s label; write %s", what, p.labeledHint())
		return
	}
	*dst = value
}

// labeledExtra reads what follows the port of a labeled entry: ignored by 1.x; options or a
// destination port in 2.x, whose datacenter must agree with a .dc label.
func (p *entryParse) labeledExtra(extra string) {
	e := p.e
	if extra == "" {
		return
	}
	if p.opts.Grammar == AnnotationGrammar1 {
		e.syntax("consul-k8s 1.x ignores %s after the port", quoteShort(extra))
		return
	}
	if !strings.ContainsAny(extra, "=&?") {
		e.DestinationPort = extra
		return
	}
	dc, ok := p.options(extra)
	if !ok || dc == "" {
		return
	}
	if e.Datacenter != "" && e.Datacenter != dc {
		e.syntax(".dc and dc= disagree; consul-k8s refuses it, keep one")
		return
	}
	e.Datacenter = dc
	p.checkDatacenter()
}

func (p *entryParse) unlabeled(head string) {
	e := p.e
	e.nameParts = strings.Split(head, ".")
	for i := range e.nameParts {
		e.nameParts[i] = strings.TrimSpace(e.nameParts[i])
	}
	if p.namespacesOrPartitions() {
		pieces := strings.SplitN(head, ".", 3)
		switch len(pieces) {
		case 3:
			e.Partition = strings.TrimSpace(pieces[2])
			fallthrough
		case 2:
			e.Namespace = strings.TrimSpace(pieces[1])
		}
		e.Service = strings.TrimSpace(pieces[0])
	} else {
		e.Service = strings.TrimSpace(head)
	}
	if len(p.parts) < 3 {
		return
	}
	extra := strings.TrimSpace(p.parts[2])
	if extra == "" {
		return
	}
	if p.opts.Grammar == AnnotationGrammar1 {
		e.Datacenter = extra
		if strings.ContainsAny(extra, "=&?") {
			e.syntax("consul-k8s 1.x reads %s as a datacenter", quoteShort(extra))
			return
		}
		p.checkDatacenter()
		return
	}
	if prefix, query, ok := strings.Cut(extra, "?"); ok {
		dc, okOpts := p.options(query)
		if !okOpts {
			return
		}
		e.Datacenter = cmp.Or(dc, strings.TrimSpace(prefix))
	} else if strings.ContainsAny(extra, "=&") {
		dc, okOpts := p.options(extra)
		if !okOpts {
			return
		}
		e.Datacenter = dc
	} else {
		e.Datacenter = extra
	}
	p.checkDatacenter()
}

// options reads 2.x options: "&" or ";" between k=v pairs, a leading "?" allowed, empty
// values skipped, unknown keys refused. It returns the datacenter option and whether the
// options were read without problem.
func (p *entryParse) options(raw string) (string, bool) {
	e := p.e
	cleaned := strings.ReplaceAll(strings.TrimPrefix(strings.TrimSpace(raw), "?"), ";", "&")
	if cleaned == "" {
		return "", true
	}
	values, err := url.ParseQuery(cleaned)
	if err != nil {
		e.syntax("options are not k=v joined by &; registration fails")
		return "", false
	}
	ok := true
	var dc string
	for _, k := range slices.Sorted(maps.Keys(values)) {
		value := strings.TrimSpace(values[k][0])
		if value == "" {
			continue
		}
		switch strings.TrimSpace(k) {
		case "destination_port", "destination-port", "destinationPort", "port":
			e.DestinationPort = value
		case "local_bind_address", "local-bind-address", "localBindAddress":
			e.LocalBindAddress = value
			if net.ParseIP(value) == nil {
				e.syntax("local_bind_address %s is not an IP address", quoteShort(value))
				ok = false
			}
		case "mesh_gateway_mode", "mesh-gateway-mode", "meshGatewayMode":
			switch value {
			case modeLocal, modeRemote, modeNone:
				e.MeshGatewayMode = value
			default:
				e.syntax("mesh_gateway_mode %s is not local, remote or none", quoteShort(value))
				ok = false
			}
		case "datacenter", "dc":
			dc = value
		default:
			e.syntax("unknown option %s; registration fails", quoteShort(k))
			ok = false
		}
	}
	return dc, ok
}

// checkDatacenter refuses what no Consul datacenter can be called (letters, digits, - and _).
func (p *entryParse) checkDatacenter() {
	dc := p.e.Datacenter
	if dc == "" {
		return
	}
	for i := 0; i < len(dc); i++ {
		c := dc[i]
		if (c < 'a' || c > 'z') && (c < 'A' || c > 'Z') && (c < '0' || c > '9') && c != '-' && c != '_' {
			p.e.syntax("datacenter %s is not a datacenter name", quoteShort(dc))
			return
		}
	}
}

// destination checks the service the entry names, once parsed.
func (p *entryParse) destination() {
	e := p.e
	switch {
	case e.Service == "" && len(e.Syntax) == 0:
		e.syntax("no service name; Consul refuses the registration")
	case strings.ContainsFunc(e.Service, unicode.IsSpace):
		e.syntax("blank inside the service name")
	}
	if e.Labeled || len(e.nameParts) < 3 {
		return
	}
	switch strings.ToLower(e.nameParts[len(e.nameParts)-1]) {
	case "ns", "ap", "dc", "svc":
		e.syntax(`labels need ".svc" after the service; write %s`, p.labeledHint())
	}
}

// portHint is ":" and the entry's local port, for hints.
func (p *entryParse) portHint() string {
	if len(p.parts) < 2 {
		return ":<port>"
	}
	return ":" + word(p.parts[1], 8, "<port>")
}
