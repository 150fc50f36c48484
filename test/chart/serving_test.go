package chart

import (
	"reflect"
	"slices"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
)

const testClientCA = "-----BEGIN CERTIFICATE-----\nMIIBkTCB+wIJAKHBfpegPjMCMA0GCSqGSIb3DQEBCwUAMBExDzANBgNVBAMMBnRl\n-----END CERTIFICATE-----"

// webhook.clientAuth mounts the CA as a ConfigMap and passes --client-ca-file and one
// --client-cn-name per allowed name; a new CA rolls the pods. Off, none of it renders.
func TestClientAuthValues(t *testing.T) {
	on := decode(t, renderWith(t, "--set", "webhook.clientAuth.enabled=true", "--set-string", "webhook.clientAuth.caBundle="+testClientCA,
		"--set", "webhook.clientAuth.allowedNames={kube-apiserver,kube-apiserver-2}"))
	d := one[*appsv1.Deployment](t, on)
	c := d.Spec.Template.Spec.Containers[0]
	const caFile = "/etc/consul-peering-guard/client-ca/ca.crt"
	want := []string{"--client-ca-file=" + caFile, "--client-cn-name=kube-apiserver", "--client-cn-name=kube-apiserver-2"}
	var got []string
	for _, a := range c.Args {
		if strings.HasPrefix(a, "--client-") {
			got = append(got, a)
		}
	}
	if !slices.Equal(got, want) {
		t.Errorf("client auth args %q, want %q", got, want)
	}
	var cms []*corev1.ConfigMap
	for _, cm := range only[*corev1.ConfigMap](on) {
		if strings.HasSuffix(cm.Name, "-client-ca") {
			cms = append(cms, cm)
		}
	}
	if len(cms) != 1 || strings.TrimSpace(cms[0].Data["ca.crt"]) != testClientCA || cms[0].Namespace != namespace {
		t.Fatalf("client CA ConfigMaps %+v", cms)
	}
	var mounted bool
	for _, m := range c.VolumeMounts {
		for _, v := range d.Spec.Template.Spec.Volumes {
			if v.Name == m.Name && v.ConfigMap != nil && v.ConfigMap.Name == cms[0].Name && m.MountPath+"/ca.crt" == caFile && m.ReadOnly {
				mounted = true
			}
		}
	}
	if !mounted {
		t.Errorf("the client CA ConfigMap is not mounted read-only at %s: %+v %+v", caFile, c.VolumeMounts, d.Spec.Template.Spec.Volumes)
	}
	if d.Spec.Template.Annotations["consul-peering-guard.io/client-ca-checksum"] == "" {
		t.Error("no client CA checksum on the pods: a new CA would not roll them")
	}

	off := decode(t, renderWith(t))
	for _, a := range one[*appsv1.Deployment](t, off).Spec.Template.Spec.Containers[0].Args {
		if strings.HasPrefix(a, "--client-") {
			t.Errorf("client auth off, yet %s", a)
		}
	}
	r := helm(t, "template", release, chartDir, "--namespace", namespace, "--set", "webhook.clientAuth.enabled=true")
	if r.code == 0 {
		t.Error("webhook.clientAuth.enabled without a caBundle rendered")
	}
}

// webhook.tlsMinVersion "1.2" lowers the webhook port's floor; the default 1.3 passes no flag
// (1.3 is the binary's default).
func TestTLSMinVersionValue(t *testing.T) {
	for value, want := range map[string][]string{"1.3": nil, "1.2": {"--tls-min-version=1.2"}} {
		args := one[*appsv1.Deployment](t, decode(t, renderWith(t, "--set-string", "webhook.tlsMinVersion="+value))).Spec.Template.Spec.Containers[0].Args
		var got []string
		for _, a := range args {
			if strings.HasPrefix(a, "--tls-min-version") {
				got = append(got, a)
			}
		}
		if !slices.Equal(got, want) {
			t.Errorf("webhook.tlsMinVersion %s: %q, want %q", value, got, want)
		}
	}
	if r := helm(t, "template", release, chartDir, "--namespace", namespace, "--set-string", "webhook.tlsMinVersion=1.1"); r.code == 0 {
		t.Error("webhook.tlsMinVersion 1.1 rendered")
	}
}

// networkPolicy.webhookFrom limits the webhook port to the peers it names.
func TestNetworkPolicyWebhookFrom(t *testing.T) {
	np := one[*networkingv1.NetworkPolicy](t, decode(t, renderWith(t, "--set", "networkPolicy.enabled=true",
		"--set", "networkPolicy.webhookFrom[0].ipBlock.cidr=10.0.0.0/24")))
	var from [][]networkingv1.NetworkPolicyPeer
	for _, rule := range np.Spec.Ingress {
		for _, p := range rule.Ports {
			if p.Port.IntValue() == 9443 {
				from = append(from, rule.From)
			}
		}
	}
	want := []networkingv1.NetworkPolicyPeer{{IPBlock: &networkingv1.IPBlock{CIDR: "10.0.0.0/24"}}}
	if len(from) != 1 || !reflect.DeepEqual(from[0], want) {
		t.Errorf("rules of port 9443 come from %+v, want only %+v", from, want)
	}
}
