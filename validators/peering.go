package validators

import (
	"fmt"
	"strconv"
	"strings"

	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/consul-peering-guard/consul-peering-guard/api/kinds"
	"github.com/consul-peering-guard/consul-peering-guard/api/v1alpha1"
)

// SecretBackendKubernetes is the only peering token backend consul-k8s supports.
const SecretBackendKubernetes = "kubernetes"

func peeringSpec(obj interface{}) *v1alpha1.PeeringSpec {
	switch o := obj.(type) {
	case *v1alpha1.PeeringAcceptor:
		return &o.Spec
	case *v1alpha1.PeeringDialer:
		return &o.Spec
	}
	return nil
}

const msgPeerName = "the name is the Consul peer name; " + peerNameHint

func checkPeerNameSyntax(in *ObjectInput) field.ErrorList {
	if name := metaOf(in.Object).GetName(); !ValidPeerName(name) {
		return field.ErrorList{field.Invalid(namePath, name, msgPeerName)}
	}
	return nil
}

func celPeerNameSyntax(g *celGen, _ kinds.Kind) {
	g.nameOnCreate(func(n string) string { return "!(" + celInvalidPeer(n) + ")" },
		lit(msgPeerName))
}

// checkPeerNameUnique denies a second acceptor or dialer of one peer name; one that is being
// deleted no longer holds the name (re-peering with swapped roles in one GitOps pass), so it
// only warns while it terminates.
func checkPeerNameUnique(in *Input) field.ErrorList {
	self, _ := kinds.RefOf(in.Object)
	others := othersThan(self, in.State.PeersNamed(self.Name))
	if len(others) == 0 {
		return nil
	}
	var holding, leaving []string
	for _, o := range others {
		if in.State.Terminating(o) {
			leaving = append(leaving, o.String())
		} else {
			holding = append(holding, o.String())
		}
	}
	if len(holding) > 0 {
		return field.ErrorList{withDetail(field.Duplicate(namePath, self.Name),
			fmt.Sprintf("%s already uses this peer name; one Consul peering per name", strings.Join(holding, ", ")))}
	}
	return in.warnOnly(field.ErrorList{withDetail(field.Duplicate(namePath, self.Name),
		fmt.Sprintf("%s, being deleted, still uses this peer name; consul-k8s takes it over once it is gone", strings.Join(leaving, ", ")))})
}

const (
	msgPeerRequired        = "set peer.secret with name, key and backend kubernetes"
	msgPeerFieldsRequired  = "set name, key and backend kubernetes"
	msgSecretName          = "name the Secret that holds the peering token"
	msgSecretKey           = "name the key of the token in that Secret"
	msgSecretBackendLocked = "the backend cannot change from %q; keep it or recreate the peering"
)

func checkPeerSecretValid(in *ObjectInput) field.ErrorList {
	spec := peeringSpec(in.Object)
	if spec == nil {
		return nil
	}
	if spec.Peer == nil {
		return field.ErrorList{field.Required(specPath.Child("peer"), msgPeerRequired)}
	}
	s := spec.Peer.Secret
	if s == nil {
		return field.ErrorList{field.Required(peerSecretPth, msgPeerFieldsRequired)}
	}
	var errs field.ErrorList
	if s.Name == "" {
		errs = append(errs, field.Required(peerSecretPth.Child("name"), msgSecretName))
	}
	if s.Key == "" {
		errs = append(errs, field.Required(peerSecretPth.Child("key"), msgSecretKey))
	}
	if s.Backend != SecretBackendKubernetes {
		// Only a working backend is locked in on update; repairing an invalid one stays possible.
		if old := peeringSpec(in.Old); in.Operation == Update && old != nil && old.Peer != nil && old.Peer.Secret != nil &&
			old.Peer.Secret.Backend == SecretBackendKubernetes {
			errs = append(errs, field.Forbidden(peerSecretPth.Child("backend"),
				fmt.Sprintf(msgSecretBackendLocked, SecretBackendKubernetes)))
		} else {
			errs = append(errs, field.NotSupported(peerSecretPth.Child("backend"), s.Backend, []string{SecretBackendKubernetes}))
		}
	}
	return errs
}

func celPeerSecretValid(g *celGen, _ kinds.Kind) {
	hasPeer := func(r string) string { return present(r, "spec", "peer") }
	hasSecret := func(r string) string { return present(r, "spec", "peer", "secret") }
	secret := func(r, f string) string { return str(r, "spec", "peer", "secret", f) }
	g.scalar(specPath.Child("peer").String(), func(r string) string { return "!(" + hasPeer(r) + ")" }, nil,
		lit(msgPeerRequired))
	g.scalar(peerSecretPth.String(), func(r string) string { return hasPeer(r) + " && !" + hasSecret(r) }, nil,
		lit(msgPeerFieldsRequired))
	g.scalar(peerSecretPth.Child("name").String(), func(r string) string { return hasSecret(r) + " && " + secret(r, "name") + " == ''" }, nil,
		lit(msgSecretName))
	g.scalar(peerSecretPth.Child("key").String(), func(r string) string { return hasSecret(r) + " && " + secret(r, "key") + " == ''" }, nil,
		lit(msgSecretKey))
	// A backend other than kubernetes is new unless the stored object had the same one; a
	// stored kubernetes backend is locked in (the Go check's Forbidden).
	backend := func(r string) string { return secret(r, "backend") }
	g.scalar(peerSecretPth.Child("backend").String(),
		func(r string) string {
			return hasSecret(r) + " && " + backend(r) + " != " + lit(SecretBackendKubernetes)
		}, backend,
		"(oldObject != null && "+hasSecret(celOld)+" && "+backend(celOld)+" == "+lit(SecretBackendKubernetes)+
			" ? "+lit(fmt.Sprintf(msgSecretBackendLocked, SecretBackendKubernetes))+
			" : "+lit("supported values: "+strconv.Quote(SecretBackendKubernetes))+")")
}

// PeeringVersionAnnotation on a PeeringAcceptor or PeeringDialer asks consul-k8s for a new
// peering token: it reads it as an unsigned integer and acts when it rises above the version
// in the status.
const PeeringVersionAnnotation = "consul.hashicorp.com/peering-version"

var peeringVersionPath = field.NewPath("metadata", "annotations").Key(PeeringVersionAnnotation)

// The messages of peering-version-annotation, shared with its CEL.
const (
	peeringVersionNotANumber = "consul-k8s reads an unsigned integer such as \"2\"; every reconcile of this peering fails"
	peeringVersionLowered    = "consul-k8s makes a new token only when the version rises; raise it above "
)

// peeringVersion is the peering-version annotation of obj, parsed as consul-k8s parses it.
func peeringVersion(obj any) (raw string, v uint64, present, valid bool) {
	m, ok := obj.(interface{ GetAnnotations() map[string]string })
	if !ok || peeringSpec(obj) == nil {
		return "", 0, false, false
	}
	raw, present = m.GetAnnotations()[PeeringVersionAnnotation]
	if !present {
		return "", 0, false, false
	}
	v, err := strconv.ParseUint(raw, 10, 64)
	return raw, v, true, err == nil
}

// checkPeeringVersionAnnotation denies a peering-version consul-k8s cannot parse (its
// reconcile fails on every attempt) and, on update, one lowered (no new token, silently).
func checkPeeringVersionAnnotation(in *ObjectInput) field.ErrorList {
	raw, v, present, valid := peeringVersion(in.Object)
	switch {
	case !present:
		return nil
	case !valid:
		return field.ErrorList{field.Invalid(peeringVersionPath, raw, peeringVersionNotANumber)}
	}
	if in.Operation != Update {
		return nil
	}
	oldRaw, old, _, oldValid := peeringVersion(in.Old)
	if oldValid && v < old {
		return field.ErrorList{field.Invalid(peeringVersionPath, raw, peeringVersionLowered+strconv.Quote(oldRaw))}
	}
	return nil
}

func celPeeringVersionAnnotation(g *celGen, _ kinds.Kind) {
	ann := func(r string) string { return r + ".metadata.annotations[" + lit(PeeringVersionAnnotation) + "]" }
	has := func(r string) string {
		return present(r, "metadata", "annotations") + " && " + lit(PeeringVersionAnnotation) + " in " + r + ".metadata.annotations"
	}
	// strconv.ParseUint(v, 10, 64): digits only, at most 2^64-1 once leading zeros are gone.
	valid := func(r string) string {
		v := ann(r)
		return "(" + v + ".matches('^0*[0-9]{1,19}$') || (" + v + ".matches('^0*[0-9]{20}$') && " +
			v + ".substring(size(" + v + ") - 20) <= '18446744073709551615'))"
	}
	path := peeringVersionPath.String()
	g.scalar(path, func(r string) string { return has(r) + " && !" + valid(r) }, ann, lit(peeringVersionNotANumber))
	lowered := "oldObject != null && " + has(celOld) + " && " + valid(celOld) + " && " + has(celNew) + " && " + valid(celNew) +
		" && uint(" + ann(celNew) + ") < uint(" + ann(celOld) + ")"
	g.add("!("+lowered+")", g.message(lit(path), lit(peeringVersionLowered)+" + '\"' + "+ann(celOld)+" + '\"'"))
}
