package main

import (
	"fmt"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// The resources the benchmark writes, as the API server serves them.
var (
	gvrServiceDefaults  = consulGVR("servicedefaults")
	gvrExportedServices = consulGVR("exportedservices")
	gvrAcceptors        = consulGVR("peeringacceptors")
	gvrDialers          = consulGVR("peeringdialers")
	gvrDeployments      = schema.GroupVersionResource{Group: "apps", Version: "v1", Resource: "deployments"}
)

func consulGVR(resource string) schema.GroupVersionResource {
	return schema.GroupVersionResource{Group: "consul.hashicorp.com", Version: "v1alpha1", Resource: resource}
}

func consulObject(kind, name string, spec map[string]any) map[string]any {
	return map[string]any{"apiVersion": "consul.hashicorp.com/v1alpha1", "kind": kind,
		"metadata": map[string]any{"name": name, "namespace": "default"}, "spec": spec}
}

// dialer is a PeeringDialer reading its token from a Kubernetes Secret, as consul-k8s wants.
func dialer(name string) map[string]any {
	return consulObject("PeeringDialer", name, map[string]any{"peer": map[string]any{
		"secret": map[string]any{"name": "peering-token", "key": "data", "backend": "kubernetes"}}})
}

func acceptor(name string) map[string]any {
	obj := dialer(name)
	obj["kind"] = "PeeringAcceptor"
	return obj
}

// serviceDefaults has three upstream overrides to peer (or local services when peer is "")
// with the given mesh gateway mode.
func serviceDefaults(name, peer, mode string) map[string]any {
	var overrides []any
	for i := 0; i < 3; i++ {
		o := map[string]any{"name": fmt.Sprintf("api-%d", i)}
		if peer != "" {
			o["peer"] = peer
		}
		if mode != "" {
			o["meshGateway"] = map[string]any{"mode": mode}
		}
		overrides = append(overrides, o)
	}
	return consulObject("ServiceDefaults", name, map[string]any{"protocol": "http",
		"upstreamConfig": map[string]any{"overrides": overrides}})
}

// exportedServices exports service to one consumer, for example {"peer": "dc2"}.
func exportedServices(service string, consumer map[string]any) map[string]any {
	return consulObject("ExportedServices", "default", map[string]any{"services": []any{
		map[string]any{"name": service, "consumers": []any{consumer}}}})
}

// gatewayDeployment is the mesh gateway as the Consul chart labels it.
func gatewayDeployment() map[string]any {
	return deployment("consul-mesh-gateway", "consul", map[string]any{"app": "consul", "component": "mesh-gateway"})
}

// appDeployment is one of a cluster's many other workloads.
func appDeployment(name string) map[string]any {
	return deployment(name, "apps", map[string]any{"app": name, "team": "payments"})
}

func deployment(name, namespace string, labels map[string]any) map[string]any {
	return map[string]any{"apiVersion": "apps/v1", "kind": "Deployment",
		"metadata": map[string]any{"name": name, "namespace": namespace, "labels": labels},
		"spec": map[string]any{"replicas": int64(1),
			"selector": map[string]any{"matchLabels": labels},
			"template": map[string]any{"metadata": map[string]any{"labels": labels},
				"spec": map[string]any{"containers": []any{map[string]any{"name": "main", "image": "hashicorp/consul-dataplane"}}}}}}
}

func u(obj map[string]any) *unstructured.Unstructured { return &unstructured.Unstructured{Object: obj} }
