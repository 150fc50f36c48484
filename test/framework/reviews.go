package framework

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"

	admissionv1 "k8s.io/api/admission/v1"

	"github.com/consul-peering-guard/consul-peering-guard/api/kinds"
	"github.com/consul-peering-guard/consul-peering-guard/webhook"
)

// Sample is a realistic object of one kind with the verdict the rules give it in a cluster
// whose mesh gateway runs and that has no other Consul objects.
type Sample struct {
	Kind    kinds.Kind
	Object  string
	Allowed bool
}

// Samples returns an allowed and a denied object of every kind; ServiceDefaults carry n
// upstream overrides and ExportedServices n services, so callers can scale them.
func Samples(n int) []Sample {
	if n < 1 {
		n = 1
	}
	var overrides, badOverrides, services []string
	for i := 0; i < n; i++ {
		overrides = append(overrides, fmt.Sprintf(`{"name":"api-%d","peer":"dc2","meshGateway":{"mode":"remote"},"connectTimeoutMs":5000}`, i))
		badOverrides = append(badOverrides, fmt.Sprintf(`{"name":"api-%d","peer":"dc2","partition":"ap1","meshGateway":{"mode":"none"}}`, i))
		services = append(services, fmt.Sprintf(`{"name":"svc-%d","consumers":[{"peer":"dc2"}]}`, i))
	}
	obj := func(kind, name, spec string) string {
		return `{"apiVersion":"consul.hashicorp.com/v1alpha1","kind":"` + kind + `","metadata":{"name":"` + name +
			`","namespace":"default","uid":"6b8c0f55-1c0c-4c4e-9f0a-000000000001"},"spec":` + spec + `}`
	}
	secret := func(backend string) string {
		return `{"peer":{"secret":{"name":"dc2-token","key":"data","backend":"` + backend + `"}}}`
	}
	return []Sample{
		{kinds.Mesh, obj("Mesh", "mesh", `{"peering":{"peerThroughMeshGateways":true},"tls":{"incoming":{"tlsMinVersion":"TLSv1_2"}}}`), true},
		{kinds.Mesh, obj("Mesh", "mesh-2", `{"peering":{"peerThroughMeshGateways":true}}`), false},
		{kinds.ProxyDefaults, obj("ProxyDefaults", "global", `{"meshGateway":{"mode":"local"},"config":{"protocol":"http"}}`), true},
		{kinds.ProxyDefaults, obj("ProxyDefaults", "global", `{"meshGateway":{"mode":"remotee"}}`), false},
		{kinds.ServiceDefaults, obj("ServiceDefaults", "frontend", `{"protocol":"http","upstreamConfig":{"overrides":[`+strings.Join(overrides, ",")+`]}}`), true},
		{kinds.ServiceDefaults, obj("ServiceDefaults", "frontend", `{"protocol":"http","upstreamConfig":{"overrides":[`+strings.Join(badOverrides, ",")+`]}}`), false},
		{kinds.ExportedServices, obj("ExportedServices", "default", `{"services":[`+strings.Join(services, ",")+`]}`), true},
		{kinds.ExportedServices, obj("ExportedServices", "ap1", `{"services":[`+strings.Join(services, ",")+`]}`), false},
		{kinds.PeeringAcceptor, obj("PeeringAcceptor", "dc3", secret("kubernetes")), true},
		{kinds.PeeringAcceptor, obj("PeeringAcceptor", "dc3", secret("vault")), false},
		{kinds.PeeringDialer, obj("PeeringDialer", "dc4", secret("kubernetes")), true},
		{kinds.PeeringDialer, obj("PeeringDialer", "Bad_Name", secret("kubernetes")), false},
	}
}

// ReviewBody wraps an object into an admission.k8s.io/v1 AdmissionReview request.
func ReviewBody(kind kinds.Kind, operation, object, oldObject string) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, `{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"0f6a6bd6-0000-4000-8000-000000000000",`+
		`"kind":{"group":"consul.hashicorp.com","version":"v1alpha1","kind":"%s"},`+
		`"resource":{"group":"consul.hashicorp.com","version":"v1alpha1","resource":"%s"},`+
		`"namespace":"default","operation":"%s","userInfo":{"username":"load"}`, kind, kinds.Plural(kind), operation)
	if object != "" {
		b.WriteString(`,"object":` + object)
	}
	if oldObject != "" {
		b.WriteString(`,"oldObject":` + oldObject)
	}
	b.WriteString(`}}`)
	return b.Bytes()
}

// PostReview posts a body to the webhook path of kind at base (https://host:port) and
// returns the HTTP status and the decoded response, if any.
func PostReview(c *http.Client, base string, kind kinds.Kind, body []byte) (int, *admissionv1.AdmissionResponse, error) {
	return PostRaw(c, base+webhook.Path(kind), "application/json", body)
}

// PostRaw posts any body with any content type.
func PostRaw(c *http.Client, url, contentType string, body []byte) (int, *admissionv1.AdmissionResponse, error) {
	resp, err := c.Post(url, contentType, bytes.NewReader(body))
	if err != nil {
		return 0, nil, err
	}
	defer func() { _ = resp.Body.Close() }()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return resp.StatusCode, nil, err
	}
	var review admissionv1.AdmissionReview
	if json.Unmarshal(raw, &review) != nil {
		return resp.StatusCode, nil, nil
	}
	return resp.StatusCode, review.Response, nil
}
