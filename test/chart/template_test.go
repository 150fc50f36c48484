package chart

import (
	"encoding/base64"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	cmv1 "github.com/cert-manager/cert-manager/pkg/apis/certmanager/v1"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/diff"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	"github.com/consul-peering-guard/consul-peering-guard/api/kinds"
	"github.com/consul-peering-guard/consul-peering-guard/api/v1alpha1"
	"github.com/consul-peering-guard/consul-peering-guard/state"
	"github.com/consul-peering-guard/consul-peering-guard/test/framework"
)

const certDir = "/tmp/k8s-webhook-server/serving-certs"

// chartCase is what one ci values file must render to.
type chartCase struct {
	file           string
	certManager    bool
	servingSecret  string
	failurePolicy  admissionregistrationv1.FailurePolicyType
	timeoutSeconds int32
	nsSelector     *metav1.LabelSelector
	objSelector    *metav1.LabelSelector
	replicas       int32
	args           []string
	// extraGrants are the permissions beyond the reads, as group/resource:verb.
	extraGrants   []string
	metricsPort   *corev1.ContainerPort
	networkPolicy bool
	// webhookFrom are the peers the NetworkPolicy admits to the webhook port; none: all.
	webhookFrom       []networkingv1.NetworkPolicyPeer
	priorityClassName string
	exemptNamespaces  []string
	matchConditions   []admissionregistrationv1.MatchCondition
	// gatewayNamespace is where Deployments may be read; empty: every namespace.
	gatewayNamespace string
	// goMemLimit is the GOMEMLIMIT of the container; empty: not set.
	goMemLimit string
	spread     []corev1.TopologySpreadConstraint
	// noWorkloads: the workload entries are off; workloadPolicy is their failurePolicy.
	noWorkloads    bool
	workloadPolicy admissionregistrationv1.FailurePolicyType
	// monitoring: the ServiceMonitor, PrometheusRule and dashboard of the monitoring ci file.
	monitoring bool
}

// defaultSpread is the chart's default topology spread: zones when possible, nodes as long
// as a schedulable node can take the pod, counting only the pods of one rollout.
func defaultSpread() []corev1.TopologySpreadConstraint {
	sel := &metav1.LabelSelector{MatchLabels: map[string]string{"app.kubernetes.io/name": "consul-peering-guard", "app.kubernetes.io/instance": release}}
	honor := corev1.NodeInclusionPolicyHonor
	return []corev1.TopologySpreadConstraint{
		{MaxSkew: 1, TopologyKey: "topology.kubernetes.io/zone", WhenUnsatisfiable: corev1.ScheduleAnyway, LabelSelector: sel, MatchLabelKeys: []string{"pod-template-hash"}},
		{MaxSkew: 1, TopologyKey: "kubernetes.io/hostname", WhenUnsatisfiable: corev1.DoNotSchedule, LabelSelector: sel, MatchLabelKeys: []string{"pod-template-hash"}, NodeTaintsPolicy: &honor},
	}
}

var baseArgs = []string{
	"serve",
	"--cert-dir=" + certDir,
	"--port=9443",
	"--health-probe-bind-address=:8081",
}

// registrationArgs: serve applies the configuration the chart mounts, owned by its ClusterRole.
var registrationArgs = []string{
	"--webhook-configuration=/etc/consul-peering-guard/webhook-configuration/" + webhookConfigurationKey,
	"--webhook-configuration-owner=" + release,
}

func argsWith(metrics []string, rest ...string) []string {
	out := slices.Concat(baseArgs, metrics, registrationArgs, []string{"--log-format=json", "--log-level=info"})
	return append(out, rest...)
}

var plainMetrics = []string{"--metrics-bind-address=:8080"}

var chartCases = []chartCase{
	{
		file: "default-values.yaml", certManager: true, servingSecret: release + "-tls",
		failurePolicy: admissionregistrationv1.Fail, timeoutSeconds: 5, replicas: 2,
		args: argsWith(plainMetrics,
			"--shutdown-delay=5s", "--shutdown-timeout=20s",
			"--mesh-gateway-selector=component=mesh-gateway"),
		metricsPort:       &corev1.ContainerPort{Name: "http-metrics", ContainerPort: 8080, Protocol: corev1.ProtocolTCP},
		priorityClassName: "system-cluster-critical",
		goMemLimit:        "241591910", // 90% of 256Mi
		spread:            defaultSpread(),
	},
	{
		file: "partitions-values.yaml", certManager: true, workloadPolicy: admissionregistrationv1.Fail, servingSecret: release + "-tls",
		failurePolicy: admissionregistrationv1.Fail, timeoutSeconds: 10, replicas: 2,
		nsSelector: &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{
			{Key: "kubernetes.io/metadata.name", Operator: metav1.LabelSelectorOpNotIn, Values: []string{"kube-system"}},
		}},
		args: argsWith(plainMetrics,
			"--shutdown-delay=5s", "--shutdown-timeout=20s",
			"--partitions-enabled", "--partition=ap1", "--namespaces-enabled", "--consul-edition=enterprise", "--consul-version=1.17.0", "--consul-k8s-version=1.6.2", "--connect-inject-default",
			// sorted by rule name; the values file writes off unquoted, which YAML reads as false
			"--rule=export-consul-service=off",
			"--rule=gateway-mode-local-needs-gateway=warn",
			"--rule=upstream-peer-known=deny",
			"--mesh-gateway-selector=component=mesh-gateway,app=consul",
			"--mesh-gateway-namespace=consul",
			"--exempt-namespace=velero-restore", "--exempt-namespace=break-glass"),
		metricsPort:       &corev1.ContainerPort{Name: "http-metrics", ContainerPort: 8080, Protocol: corev1.ProtocolTCP},
		priorityClassName: "system-cluster-critical",
		exemptNamespaces:  []string{"velero-restore", "break-glass"},
		matchConditions: []admissionregistrationv1.MatchCondition{{
			Name: "not-argocd", Expression: "request.userInfo.username != 'system:serviceaccount:argocd:argocd-application-controller'",
		}},
		gatewayNamespace: "consul",
		goMemLimit:       "241591910",
		spread:           defaultSpread(),
	},
	{
		file: "no-cert-manager-values.yaml", certManager: false, noWorkloads: true, servingSecret: "consul-peering-guard-serving",
		failurePolicy: admissionregistrationv1.Ignore, timeoutSeconds: 5, replicas: 1,
		objSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"consul-peering-guard.io/validate": "true"}},
		args: argsWith(plainMetrics,
			"--shutdown-delay=5s", "--shutdown-timeout=20s",
			"--mesh-gateway-selector=component=mesh-gateway",
			"--exempt-namespace=kube-system"),
		metricsPort:      &corev1.ContainerPort{Name: "http-metrics", ContainerPort: 8080, Protocol: corev1.ProtocolTCP},
		exemptNamespaces: []string{"kube-system"},
		goMemLimit:       "966367641", // 90% of 1Gi
	},
	{
		file: "secure-metrics-audit-values.yaml", certManager: true, servingSecret: release + "-tls",
		failurePolicy: admissionregistrationv1.Fail, timeoutSeconds: 5, replicas: 2,
		args: argsWith([]string{"--metrics-bind-address=:8443", "--metrics-secure"},
			"--shutdown-delay=10s", "--shutdown-timeout=1m",
			"--mesh-gateway-selector=component=mesh-gateway",
			"--client-ca-file=/etc/consul-peering-guard/client-ca/ca.crt", "--client-cn-name=kube-apiserver-webhook-client",
			"--audit-interval=10m", "--audit-chunk-size=500", "--audit-lease-namespace="+namespace,
			"--max-in-flight=32", "--in-flight-wait=2s"),
		extraGrants: append(slices.Concat(auditReads(), auditLease),
			"/events:create", "/events:patch", "events.k8s.io/events:create", "events.k8s.io/events:patch",
			"authentication.k8s.io/tokenreviews:create", "authorization.k8s.io/subjectaccessreviews:create",
		),
		metricsPort:       &corev1.ContainerPort{Name: "https-metrics", ContainerPort: 8443, Protocol: corev1.ProtocolTCP},
		networkPolicy:     true,
		webhookFrom:       []networkingv1.NetworkPolicyPeer{{IPBlock: &networkingv1.IPBlock{CIDR: "10.0.0.0/24"}}},
		priorityClassName: "platform-critical",
		goMemLimit:        "241591910",
		spread: []corev1.TopologySpreadConstraint{{
			MaxSkew: 2, TopologyKey: "topology.kubernetes.io/region", WhenUnsatisfiable: corev1.ScheduleAnyway,
			LabelSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"app.kubernetes.io/name": "consul-peering-guard"}},
		}},
	},
	{
		file: "monitoring-reports-values.yaml", certManager: true, servingSecret: release + "-tls",
		failurePolicy: admissionregistrationv1.Fail, timeoutSeconds: 5, replicas: 2,
		args: argsWith(plainMetrics,
			"--shutdown-delay=5s", "--shutdown-timeout=20s",
			"--mesh-gateway-selector=component=mesh-gateway",
			"--audit-interval=5m", "--audit-chunk-size=500", "--audit-lease-namespace="+namespace, "--reports"),
		monitoring: true,
		extraGrants: slices.Concat(auditReads(), auditLease,
			[]string{"/events:create", "/events:patch", "events.k8s.io/events:create", "events.k8s.io/events:patch"},
			reportWrites),
		metricsPort:       &corev1.ContainerPort{Name: "http-metrics", ContainerPort: 8080, Protocol: corev1.ProtocolTCP},
		priorityClassName: "system-cluster-critical",
		goMemLimit:        "241591910",
		spread:            defaultSpread(),
	},
}

// reportWrites are what --reports needs: Reports listed straight from the API server (never
// watched) and created; only the Report named consul-peering-guard read, updated or deleted.
var reportWrites = []string{
	"openreports.io/reports:create", "openreports.io/reports:list",
	"openreports.io/reports(consul-peering-guard):delete", "openreports.io/reports(consul-peering-guard):get",
	"openreports.io/reports(consul-peering-guard):update",
}

// auditLease is what the audit's leader election needs, in the release namespace only.
var auditLease = []string{
	"coordination.k8s.io/leases:create@" + namespace,
	"coordination.k8s.io/leases(consul-peering-guard-audit):get@" + namespace,
	"coordination.k8s.io/leases(consul-peering-guard-audit):update@" + namespace,
}

func TestCICasesCoverEveryCIValuesFile(t *testing.T) {
	files, err := filepath.Glob(filepath.Join(repoRoot(t), chartDir, "ci", "*.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var got, want []string
	for _, f := range files {
		got = append(got, filepath.Base(f))
	}
	for _, c := range chartCases {
		want = append(want, c.file)
	}
	sort.Strings(got)
	sort.Strings(want)
	if !slices.Equal(got, want) || !slices.Equal(got, sortedCopy(ciValues)) {
		t.Fatalf("ci/ holds %v; the chart cases cover %v and lint covers %v", got, want, ciValues)
	}
}

func sortedCopy(s []string) []string {
	c := slices.Clone(s)
	sort.Strings(c)
	return c
}

func TestTemplate(t *testing.T) {
	for _, tc := range chartCases {
		t.Run(tc.file, func(t *testing.T) {
			objs := decode(t, render(t, tc.file))
			checkLabels(t, objs)
			checkWebhookConfiguration(t, tc, objs)
			checkRBAC(t, tc, objs)
			checkDeployment(t, tc, objs)
			checkService(t, tc, objs)
			checkCertificates(t, tc, objs)
			checkDisruptionBudget(t, tc, objs)
			checkNetworkPolicy(t, tc, objs)
			checkMonitoring(t, tc, objs)
		})
	}
}

// chartMeta is what the tests read from Chart.yaml.
type chartMeta struct {
	APIVersion string `json:"apiVersion"`
	Name       string `json:"name"`
	Version    string `json:"version"`
	AppVersion string `json:"appVersion"`
}

func readChart(t *testing.T) chartMeta {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(repoRoot(t), chartDir, "Chart.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var m chartMeta
	if err := yaml.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func TestChartMetadata(t *testing.T) {
	m := readChart(t)
	if m.APIVersion != "v2" || m.Name != "consul-peering-guard" || m.Version != "0.1.0" || m.AppVersion != "v"+m.Version {
		t.Fatalf("Chart.yaml: %+v", m)
	}
}

func checkLabels(t *testing.T, objs []client.Object) {
	t.Helper()
	m := readChart(t)
	want := map[string]string{
		"helm.sh/chart":                m.Name + "-" + m.Version,
		"app.kubernetes.io/name":       m.Name,
		"app.kubernetes.io/instance":   release,
		"app.kubernetes.io/version":    m.AppVersion,
		"app.kubernetes.io/managed-by": "Helm",
	}
	for _, o := range objs {
		for k, v := range want {
			if got := o.GetLabels()[k]; got != v {
				t.Errorf("%T %s: label %s is %q, want %q", o, o.GetName(), k, got, v)
			}
		}
	}
}

// checkWebhookConfiguration compares the rendered webhooks field by field with what
// framework.WebhookConfiguration builds for the same settings.
func checkWebhookConfiguration(t *testing.T, tc chartCase, objs []client.Object) {
	t.Helper()
	vwc := webhookConfigurationOf(t, objs)
	var caBundle []byte
	if !tc.certManager {
		caBundle = caBundleOf(t, tc.file)
	}
	want := framework.WebhookConfiguration(framework.WebhookConfigurationOptions{
		Name: release,
		ClientConfig: func(path string) admissionregistrationv1.WebhookClientConfig {
			return admissionregistrationv1.WebhookClientConfig{
				Service:  &admissionregistrationv1.ServiceReference{Name: release, Namespace: namespace, Path: &path, Port: ptr(int32(443))},
				CABundle: caBundle,
			}
		},
		FailurePolicy:         tc.failurePolicy,
		TimeoutSeconds:        tc.timeoutSeconds,
		NamespaceSelector:     tc.nsSelector,
		ObjectSelector:        tc.objSelector,
		ExemptNamespaces:      tc.exemptNamespaces,
		MatchConditions:       tc.matchConditions,
		Workloads:             !tc.noWorkloads,
		WorkloadFailurePolicy: tc.workloadPolicy,
	})
	if vwc.Name != want.Name {
		t.Errorf("ValidatingWebhookConfiguration name %q, want %q", vwc.Name, want.Name)
	}
	wantEntries := len(kinds.Consul) + len(kinds.Workloads)
	if tc.noWorkloads {
		wantEntries = len(kinds.Consul)
	}
	if len(vwc.Webhooks) != wantEntries {
		t.Errorf("want %d webhooks, got %d", wantEntries, len(vwc.Webhooks))
	}
	if !equality.Semantic.DeepEqual(vwc.Webhooks, want.Webhooks) {
		t.Errorf("the chart's webhooks differ from framework.WebhookConfiguration (- chart, + Go):\n%s", diff.Diff(vwc.Webhooks, want.Webhooks))
	}
	inject, ok := vwc.Annotations[cmv1.WantInjectAnnotation]
	switch {
	case tc.certManager && inject != namespace+"/"+release+"-serving-cert":
		t.Errorf("annotation %s is %q, want %s/%s-serving-cert", cmv1.WantInjectAnnotation, inject, namespace, release)
	case !tc.certManager && ok:
		t.Errorf("annotation %s set without cert-manager", cmv1.WantInjectAnnotation)
	}
	if !tc.certManager && len(caBundle) == 0 {
		t.Error("no caBundle without cert-manager")
	}
}

// caBundleOf returns the decoded tls.caBundle of a ci values file.
func caBundleOf(t *testing.T, file string) []byte {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(repoRoot(t), chartDir, "ci", file))
	if err != nil {
		t.Fatal(err)
	}
	var v struct {
		TLS struct {
			CABundle string `json:"caBundle"`
		} `json:"tls"`
	}
	if err := yaml.Unmarshal(raw, &v); err != nil {
		t.Fatal(err)
	}
	b, err := base64.StdEncoding.DecodeString(v.TLS.CABundle)
	if err != nil {
		t.Fatalf("tls.caBundle of %s is not base64: %v", file, err)
	}
	if !strings.Contains(string(b), "BEGIN CERTIFICATE") {
		t.Fatalf("tls.caBundle of %s is not a PEM certificate", file)
	}
	return b
}

// readGrants are the webhook's informer reads: the Consul kinds the state rules read and Deployments, the
// latter only in gatewayNamespace when it is set (written group/resource:verb@namespace).
func readGrants(gatewayNamespace string) []string {
	var out []string
	for _, obj := range state.WatchedObjects() {
		group, resource, scope := v1alpha1.Group, "", ""
		switch obj.(type) {
		case *appsv1.Deployment:
			group, resource = "apps", "deployments"
			if gatewayNamespace != "" {
				scope = "@" + gatewayNamespace
			}
		default:
			kind, _ := kinds.Of(obj)
			resource = kinds.Plural(kind)
		}
		for _, verb := range []string{"get", "list", "watch"} {
			out = append(out, group+"/"+resource+":"+verb+scope)
		}
	}
	return out
}

// auditReads are the reads only the periodic audit needs: the validated kinds the state
// rules do not read.
func auditReads() []string {
	// The workloads people write, listed a page at a time (Deployments are read anyway).
	out := []string{"/pods:list", "apps/statefulsets:list", "apps/daemonsets:list",
		"apps/replicasets:list", "batch/jobs:list", "batch/cronjobs:list"}
	for _, k := range kinds.Consul {
		if slices.Contains(kinds.Watched, k) {
			continue
		}
		for _, verb := range []string{"get", "list", "watch"} {
			out = append(out, v1alpha1.Group+"/"+kinds.Plural(k)+":"+verb)
		}
	}
	return out
}

// grantsOf expands RBAC rules into group/resource:verb strings, group/resource(name):verb for
// a rule limited to names (nonResourceURLs as url:verb).
func grantsOf(rules []rbacv1.PolicyRule) []string {
	var out []string
	for _, r := range rules {
		for _, verb := range r.Verbs {
			for _, g := range r.APIGroups {
				for _, res := range r.Resources {
					if len(r.ResourceNames) == 0 {
						out = append(out, g+"/"+res+":"+verb)
					}
					for _, name := range r.ResourceNames {
						out = append(out, g+"/"+res+"("+name+"):"+verb)
					}
				}
			}
			for _, u := range r.NonResourceURLs {
				out = append(out, u+":"+verb)
			}
		}
	}
	sort.Strings(out)
	return slices.Compact(out)
}

// serviceAccountGrants is everything the bindings give the chart's ServiceAccount; grants
// of a namespaced Role end in @namespace.
func serviceAccountGrants(t *testing.T, objs []client.Object) []string {
	t.Helper()
	sa := one[*corev1.ServiceAccount](t, objs)
	bindsSA := func(subjects []rbacv1.Subject) bool {
		return slices.ContainsFunc(subjects, func(s rbacv1.Subject) bool {
			return s.Kind == rbacv1.ServiceAccountKind && s.Name == sa.Name && s.Namespace == sa.Namespace
		})
	}
	var grants []string
	for _, b := range only[*rbacv1.ClusterRoleBinding](objs) {
		if !bindsSA(b.Subjects) {
			continue
		}
		if b.RoleRef.Kind != "ClusterRole" {
			t.Errorf("ClusterRoleBinding %s binds a %s", b.Name, b.RoleRef.Kind)
			continue
		}
		role := named[*rbacv1.ClusterRole](t, objs, b.RoleRef.Name)
		grants = append(grants, grantsOf(role.Rules)...)
	}
	for _, b := range only[*rbacv1.RoleBinding](objs) {
		if !bindsSA(b.Subjects) {
			t.Errorf("RoleBinding %s/%s binds something other than the chart's ServiceAccount", b.Namespace, b.Name)
			continue
		}
		if b.RoleRef.Kind != "Role" {
			t.Errorf("RoleBinding %s/%s binds a %s; only a Role keeps the grant in its namespace", b.Namespace, b.Name, b.RoleRef.Kind)
			continue
		}
		role := named[*rbacv1.Role](t, objs, b.RoleRef.Name)
		if role.Namespace != b.Namespace {
			t.Errorf("RoleBinding %s/%s refers to Role %s/%s", b.Namespace, b.Name, role.Namespace, role.Name)
		}
		for _, g := range grantsOf(role.Rules) {
			grants = append(grants, g+"@"+b.Namespace)
		}
	}
	if n, m := len(only[*rbacv1.Role](objs)), len(only[*rbacv1.RoleBinding](objs)); n != m {
		t.Errorf("%d Roles and %d RoleBindings", n, m)
	}
	sort.Strings(grants)
	return slices.Compact(grants)
}

// registrationGrants are what serve needs to apply its configuration: that one object
// (resourceNames), its owner's uid, and the Service's EndpointSlices in the release namespace.
func registrationGrants() []string {
	return []string{
		"admissionregistration.k8s.io/validatingwebhookconfigurations(" + release + "):create",
		"admissionregistration.k8s.io/validatingwebhookconfigurations(" + release + "):get",
		"admissionregistration.k8s.io/validatingwebhookconfigurations(" + release + "):patch",
		"discovery.k8s.io/endpointslices:list@" + namespace,
		"rbac.authorization.k8s.io/clusterroles(" + release + "):get",
	}
}

func checkRBAC(t *testing.T, tc chartCase, objs []client.Object) {
	t.Helper()
	want := slices.Concat(readGrants(tc.gatewayNamespace), registrationGrants(), tc.extraGrants)
	sort.Strings(want)
	if got := serviceAccountGrants(t, objs); !slices.Equal(got, want) {
		t.Errorf("the ServiceAccount may do\n %v\nwant exactly\n %v", got, want)
	}
	reader := slices.ContainsFunc(only[*rbacv1.ClusterRole](objs), func(r *rbacv1.ClusterRole) bool {
		return r.Name == release+"-metrics-reader"
	})
	if secure := slices.Contains(tc.args, "--metrics-secure"); reader != secure {
		t.Errorf("metrics-reader ClusterRole rendered: %v, secure metrics: %v", reader, secure)
	}
}

func checkDeployment(t *testing.T, tc chartCase, objs []client.Object) {
	t.Helper()
	d := one[*appsv1.Deployment](t, objs)
	if d.Namespace != namespace {
		t.Errorf("Deployment namespace %q", d.Namespace)
	}
	if d.Spec.Replicas == nil || *d.Spec.Replicas != tc.replicas {
		t.Errorf("replicas %v, want %d", d.Spec.Replicas, tc.replicas)
	}
	sel, err := metav1.LabelSelectorAsSelector(d.Spec.Selector)
	if err != nil || !sel.Matches(labels.Set(d.Spec.Template.Labels)) {
		t.Errorf("the Deployment's selector %v does not match its pods %v", d.Spec.Selector, d.Spec.Template.Labels)
	}
	// The Consul injector never takes the webhook's own pods: with connectInject.default
	// and transparent proxy, Envoy would take port 9443 and every review would fail.
	if v := d.Spec.Template.Annotations["consul.hashicorp.com/connect-inject"]; v != "false" {
		t.Errorf("pods say connect-inject %q, want \"false\"", v)
	}
	if ru := d.Spec.Strategy.RollingUpdate; ru == nil || ru.MaxUnavailable == nil || ru.MaxUnavailable.IntValue() != 0 {
		t.Errorf("rolling update must keep every pod until its replacement is ready: %+v", d.Spec.Strategy)
	}
	pod := d.Spec.Template.Spec
	if pod.ServiceAccountName != one[*corev1.ServiceAccount](t, objs).Name {
		t.Errorf("pods run as %q, not the chart's ServiceAccount", pod.ServiceAccountName)
	}
	if pod.PriorityClassName != tc.priorityClassName {
		t.Errorf("priorityClassName %q, want %q", pod.PriorityClassName, tc.priorityClassName)
	}
	psc := pod.SecurityContext
	if psc == nil || psc.RunAsNonRoot == nil || !*psc.RunAsNonRoot || psc.RunAsUser == nil || *psc.RunAsUser != 65532 ||
		psc.SeccompProfile == nil || psc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
		t.Errorf("pod securityContext: %+v", psc)
	}
	if len(pod.Containers) != 1 {
		t.Fatalf("want one container, got %d", len(pod.Containers))
	}
	c := pod.Containers[0]
	if want := "ghcr.io/consul-peering-guard/consul-peering-guard:" + readChart(t).AppVersion; c.Image != want {
		t.Errorf("image %q, want %q", c.Image, want)
	}
	if !slices.Equal(c.Args, tc.args) {
		t.Errorf("args\n got %q\nwant %q", c.Args, tc.args)
	}
	csc := c.SecurityContext
	if csc == nil || csc.AllowPrivilegeEscalation == nil || *csc.AllowPrivilegeEscalation ||
		csc.ReadOnlyRootFilesystem == nil || !*csc.ReadOnlyRootFilesystem ||
		csc.Capabilities == nil || !slices.Equal(csc.Capabilities.Drop, []corev1.Capability{"ALL"}) || len(csc.Capabilities.Add) > 0 ||
		(csc.Privileged != nil && *csc.Privileged) {
		t.Errorf("container securityContext: %+v", csc)
	}
	for _, p := range []struct {
		name  string
		probe *corev1.Probe
		path  string
	}{{"readiness", c.ReadinessProbe, "/readyz"}, {"liveness", c.LivenessProbe, "/healthz"}} {
		if p.probe == nil || p.probe.HTTPGet == nil {
			t.Errorf("%s probe: %+v", p.name, p.probe)
			continue
		}
		if p.probe.HTTPGet.Path != p.path || containerPort(t, c, p.probe.HTTPGet.Port) != 8081 {
			t.Errorf("%s probe: GET %s on %s, want %s on 8081", p.name, p.probe.HTTPGet.Path, p.probe.HTTPGet.Port.String(), p.path)
		}
	}
	if c.Resources.Requests.Cpu().IsZero() || c.Resources.Requests.Memory().IsZero() || c.Resources.Limits.Memory().IsZero() {
		t.Errorf("resources: %+v", c.Resources)
	}
	checkGoMemLimit(t, c, tc.goMemLimit)
	// Shutdown: the delay keeps serving while endpoints drain; the kubelet must wait longer.
	delay, timeout := durationArg(t, c.Args, "--shutdown-delay"), durationArg(t, c.Args, "--shutdown-timeout")
	if g := pod.TerminationGracePeriodSeconds; g == nil || time.Duration(*g)*time.Second <= delay+timeout {
		t.Errorf("terminationGracePeriodSeconds %v must exceed shutdown delay %s + timeout %s", g, delay, timeout)
	}
	checkServingCertMount(t, tc, pod, c)
	checkSpread(t, tc, d)
	checkPorts(t, tc, c)
}

// checkGoMemLimit: GOMEMLIMIT is the only environment variable, 90% of the memory limit in
// bytes, and absent without a limit.
func checkGoMemLimit(t *testing.T, c corev1.Container, want string) {
	t.Helper()
	var wantEnv []corev1.EnvVar
	if want != "" {
		wantEnv = []corev1.EnvVar{{Name: "GOMEMLIMIT", Value: want}}
		if limit := c.Resources.Limits.Memory(); strconv.FormatInt(limit.Value()*9/10, 10) != want {
			t.Errorf("GOMEMLIMIT %s is not 90%% of the memory limit %s", want, limit)
		}
	}
	if !equality.Semantic.DeepEqual(c.Env, wantEnv) {
		t.Errorf("env %+v, want %+v", c.Env, wantEnv)
	}
}

func checkServingCertMount(t *testing.T, tc chartCase, pod corev1.PodSpec, c corev1.Container) {
	t.Helper()
	i := slices.IndexFunc(c.VolumeMounts, func(m corev1.VolumeMount) bool { return m.MountPath == certDir })
	if i < 0 || !c.VolumeMounts[i].ReadOnly {
		t.Fatalf("serving certificates not mounted read-only at %s: %+v", certDir, c.VolumeMounts)
	}
	j := slices.IndexFunc(pod.Volumes, func(v corev1.Volume) bool { return v.Name == c.VolumeMounts[i].Name })
	if j < 0 || pod.Volumes[j].Secret == nil || pod.Volumes[j].Secret.SecretName != tc.servingSecret {
		t.Errorf("the serving certificate volume is not Secret %s: %+v", tc.servingSecret, pod.Volumes)
	}
}

// checkSpread: the pods are spread as the case says, every constraint selects the pods
// themselves, and no affinity is rendered unless asked for.
func checkSpread(t *testing.T, tc chartCase, d *appsv1.Deployment) {
	t.Helper()
	pod := d.Spec.Template.Spec
	if !equality.Semantic.DeepEqual(pod.TopologySpreadConstraints, tc.spread) {
		t.Errorf("topologySpreadConstraints (- chart, + want):\n%s", diff.Diff(pod.TopologySpreadConstraints, tc.spread))
	}
	for _, c := range pod.TopologySpreadConstraints {
		sel, err := metav1.LabelSelectorAsSelector(c.LabelSelector)
		if err != nil || !sel.Matches(labels.Set(d.Spec.Template.Labels)) {
			t.Errorf("spread over %s selects %v, not the pods %v", c.TopologyKey, c.LabelSelector, d.Spec.Template.Labels)
		}
	}
	if pod.Affinity != nil {
		t.Errorf("affinity %+v rendered without affinity values", pod.Affinity)
	}
}

func checkPorts(t *testing.T, tc chartCase, c corev1.Container) {
	t.Helper()
	want := []corev1.ContainerPort{
		{Name: "https", ContainerPort: 9443, Protocol: corev1.ProtocolTCP},
		{Name: "healthz", ContainerPort: 8081, Protocol: corev1.ProtocolTCP},
	}
	if tc.metricsPort != nil {
		want = append(want, *tc.metricsPort)
	}
	if !equality.Semantic.DeepEqual(c.Ports, want) {
		t.Errorf("container ports %+v, want %+v", c.Ports, want)
	}
}

func checkService(t *testing.T, tc chartCase, objs []client.Object) {
	t.Helper()
	svc := one[*corev1.Service](t, objs)
	d := one[*appsv1.Deployment](t, objs)
	c := d.Spec.Template.Spec.Containers[0]
	if svc.Name != release || svc.Namespace != namespace {
		t.Errorf("Service %s/%s; the webhook configuration names %s/%s", svc.Namespace, svc.Name, namespace, release)
	}
	if !labels.SelectorFromSet(svc.Spec.Selector).Matches(labels.Set(d.Spec.Template.Labels)) {
		t.Errorf("the Service selects %v, not the pods %v", svc.Spec.Selector, d.Spec.Template.Labels)
	}
	type port struct {
		name         string
		port, target int32
	}
	var got []port
	for _, p := range svc.Spec.Ports {
		got = append(got, port{p.Name, p.Port, containerPort(t, c, p.TargetPort)})
	}
	want := []port{{"https", 443, 9443}}
	if tc.metricsPort != nil {
		want = append(want, port{tc.metricsPort.Name, tc.metricsPort.ContainerPort, tc.metricsPort.ContainerPort})
	}
	if !slices.Equal(got, want) {
		t.Errorf("Service ports %+v, want %+v", got, want)
	}
}

func checkCertificates(t *testing.T, tc chartCase, objs []client.Object) {
	t.Helper()
	certs, issuers := only[*cmv1.Certificate](objs), only[*cmv1.Issuer](objs)
	if !tc.certManager {
		if len(certs)+len(issuers) > 0 {
			t.Errorf("cert-manager objects rendered with certManager.enabled false")
		}
		return
	}
	if len(certs) != 2 || len(issuers) != 2 {
		t.Fatalf("want two Certificates and two Issuers, got %d and %d", len(certs), len(issuers))
	}
	svc := one[*corev1.Service](t, objs)
	serving := named[*cmv1.Certificate](t, objs, release+"-serving-cert")
	wantDNS := []string{svc.Name + "." + svc.Namespace + ".svc", svc.Name + "." + svc.Namespace + ".svc.cluster.local"}
	if !slices.Equal(serving.Spec.DNSNames, wantDNS) {
		t.Errorf("serving certificate dnsNames %v, want %v", serving.Spec.DNSNames, wantDNS)
	}
	if serving.Spec.SecretName != tc.servingSecret {
		t.Errorf("serving certificate secretName %q, want %q", serving.Spec.SecretName, tc.servingSecret)
	}
	if serving.Spec.Duration == nil || serving.Spec.RenewBefore == nil || serving.Spec.RenewBefore.Duration >= serving.Spec.Duration.Duration {
		t.Errorf("serving certificate duration %v renewBefore %v", serving.Spec.Duration, serving.Spec.RenewBefore)
	}
	if serving.Spec.IsCA {
		t.Error("the serving certificate is a CA")
	}
	caIssuer := named[*cmv1.Issuer](t, objs, release+"-ca")
	if serving.Spec.IssuerRef.Name != caIssuer.Name || serving.Spec.IssuerRef.Kind != cmv1.IssuerKind {
		t.Errorf("the serving certificate is issued by %+v, want Issuer %s", serving.Spec.IssuerRef, caIssuer.Name)
	}
	ca := named[*cmv1.Certificate](t, objs, release+"-ca")
	if caIssuer.Spec.CA == nil || caIssuer.Spec.CA.SecretName != ca.Spec.SecretName || ca.Spec.SecretName != release+"-ca" {
		t.Errorf("the CA Issuer reads %+v; the CA certificate is stored in %q", caIssuer.Spec.CA, ca.Spec.SecretName)
	}
	if !ca.Spec.IsCA {
		t.Error("the CA certificate is not a CA")
	}
	selfSigned := named[*cmv1.Issuer](t, objs, release+"-selfsigned")
	if selfSigned.Spec.SelfSigned == nil || ca.Spec.IssuerRef.Name != selfSigned.Name || ca.Spec.IssuerRef.Kind != cmv1.IssuerKind {
		t.Errorf("the CA certificate is issued by %+v; want the self-signed Issuer", ca.Spec.IssuerRef)
	}
	for _, c := range certs {
		if k := c.Spec.PrivateKey; k == nil || k.Algorithm != cmv1.ECDSAKeyAlgorithm || k.Size != 256 {
			t.Errorf("Certificate %s private key %+v, want ECDSA 256", c.Name, k)
		}
	}
}

func checkDisruptionBudget(t *testing.T, tc chartCase, objs []client.Object) {
	t.Helper()
	pdbs := only[*policyv1.PodDisruptionBudget](objs)
	if tc.replicas < 2 {
		if len(pdbs) != 0 {
			t.Error("a PodDisruptionBudget with minAvailable 1 and one replica blocks every node drain")
		}
		return
	}
	if len(pdbs) != 1 {
		t.Fatalf("want one PodDisruptionBudget, got %d", len(pdbs))
	}
	pdb, d := pdbs[0], one[*appsv1.Deployment](t, objs)
	if pdb.Spec.MinAvailable == nil || *pdb.Spec.MinAvailable != intstr.FromInt32(1) {
		t.Errorf("minAvailable %v, want 1", pdb.Spec.MinAvailable)
	}
	sel, err := metav1.LabelSelectorAsSelector(pdb.Spec.Selector)
	if err != nil || !sel.Matches(labels.Set(d.Spec.Template.Labels)) {
		t.Errorf("the PodDisruptionBudget selects %v, not the pods", pdb.Spec.Selector)
	}
}

func checkNetworkPolicy(t *testing.T, tc chartCase, objs []client.Object) {
	t.Helper()
	nps := only[*networkingv1.NetworkPolicy](objs)
	if !tc.networkPolicy {
		if len(nps) != 0 {
			t.Error("NetworkPolicy rendered although networkPolicy.enabled is false")
		}
		return
	}
	if len(nps) != 1 {
		t.Fatalf("want one NetworkPolicy, got %d", len(nps))
	}
	if tc.metricsPort == nil {
		t.Fatal("a NetworkPolicy case needs metrics on")
	}
	np, d := nps[0], one[*appsv1.Deployment](t, objs)
	sel, err := metav1.LabelSelectorAsSelector(&np.Spec.PodSelector)
	if err != nil || !sel.Matches(labels.Set(d.Spec.Template.Labels)) {
		t.Errorf("the NetworkPolicy selects %v, not the pods", np.Spec.PodSelector)
	}
	var webhookFrom []networkingv1.NetworkPolicyPeer
	var webhookRules int
	var metricsRestricted bool
	for _, rule := range np.Spec.Ingress {
		for _, p := range rule.Ports {
			switch p.Port.IntValue() {
			case 9443:
				webhookRules++
				webhookFrom = rule.From
			case int(tc.metricsPort.ContainerPort):
				metricsRestricted = len(rule.From) > 0
			}
		}
	}
	if webhookRules != 1 || !reflect.DeepEqual(webhookFrom, tc.webhookFrom) || !metricsRestricted {
		t.Errorf("want 9443 only from %+v (all when none) and metrics only from metricsFrom: %+v", tc.webhookFrom, np.Spec.Ingress)
	}
}

// containerPort resolves a probe's or Service's port, by number or by name.
func containerPort(t *testing.T, c corev1.Container, p intstr.IntOrString) int32 {
	t.Helper()
	if p.Type == intstr.Int {
		return p.IntVal
	}
	for _, cp := range c.Ports {
		if cp.Name == p.StrVal {
			return cp.ContainerPort
		}
	}
	t.Errorf("container %s has no port named %s", c.Name, p.StrVal)
	return 0
}

func durationArg(t *testing.T, args []string, flag string) time.Duration {
	t.Helper()
	for _, a := range args {
		if v, ok := strings.CutPrefix(a, flag+"="); ok {
			d, err := time.ParseDuration(v)
			if err != nil {
				t.Fatalf("%s: %v", a, err)
			}
			return d
		}
	}
	t.Fatalf("no %s argument", flag)
	return 0
}

func ptr[T any](v T) *T { return &v }

// renderWith runs helm template with default values plus extra helm arguments.
func renderWith(t *testing.T, args ...string) []byte {
	t.Helper()
	all := append([]string{"template", release, chartDir, "--namespace", namespace}, args...)
	r := helm(t, all...)
	if r.code != 0 {
		t.Fatalf("helm %s: %s", strings.Join(all, " "), r)
	}
	return []byte(r.stdout)
}

// GOMEMLIMIT follows resources.limits.memory in every unit values.schema.json admits.
func TestGoMemLimitFollowsTheMemoryLimit(t *testing.T) {
	cases := []struct {
		name string
		set  []string
		want string
	}{
		{"binary suffix", []string{"--set-string", "resources.limits.memory=1Gi"}, "966367641"},
		{"decimal suffix", []string{"--set-string", "resources.limits.memory=512M"}, "460800000"},
		{"kibibytes", []string{"--set-string", "resources.limits.memory=300000Ki"}, "276480000"},
		{"bytes as a string", []string{"--set-string", "resources.limits.memory=1000000"}, "900000"},
		{"bytes as a number", []string{"--set", "resources.limits.memory=536870912"}, "483183820"},
		{"no memory limit", []string{"--set", "resources.limits=null"}, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			d := one[*appsv1.Deployment](t, decode(t, renderWith(t, tc.set...)))
			c := d.Spec.Template.Spec.Containers[0]
			var want []corev1.EnvVar
			if tc.want != "" {
				want = []corev1.EnvVar{{Name: "GOMEMLIMIT", Value: tc.want}}
			}
			if !equality.Semantic.DeepEqual(c.Env, want) {
				t.Errorf("env %+v, want %+v", c.Env, want)
			}
		})
	}
}

// A topology spread constraint given with its own labelSelector keeps it; one without gets
// the pods' selector labels.
func TestTopologySpreadLabelSelector(t *testing.T) {
	d := one[*appsv1.Deployment](t, decode(t, renderWith(t,
		"--set", "topologySpreadConstraints[0].maxSkew=1",
		"--set", "topologySpreadConstraints[0].topologyKey=kubernetes.io/hostname",
		"--set", "topologySpreadConstraints[0].whenUnsatisfiable=ScheduleAnyway",
		"--set", "topologySpreadConstraints[1].maxSkew=1",
		"--set", "topologySpreadConstraints[1].topologyKey=topology.kubernetes.io/zone",
		"--set", "topologySpreadConstraints[1].whenUnsatisfiable=ScheduleAnyway",
		"--set", "topologySpreadConstraints[1].labelSelector.matchLabels.tier=webhook",
	)))
	got := d.Spec.Template.Spec.TopologySpreadConstraints
	want := []corev1.TopologySpreadConstraint{
		{MaxSkew: 1, TopologyKey: "kubernetes.io/hostname", WhenUnsatisfiable: corev1.ScheduleAnyway,
			LabelSelector: &metav1.LabelSelector{MatchLabels: d.Spec.Selector.MatchLabels}},
		{MaxSkew: 1, TopologyKey: "topology.kubernetes.io/zone", WhenUnsatisfiable: corev1.ScheduleAnyway,
			LabelSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"tier": "webhook"}}},
	}
	if !equality.Semantic.DeepEqual(got, want) {
		t.Errorf("topologySpreadConstraints (- chart, + want):\n%s", diff.Diff(got, want))
	}
}
