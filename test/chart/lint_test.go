package chart

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/consul-peering-guard/consul-peering-guard/validators"
)

func TestLintPassesWithEveryCIValuesFile(t *testing.T) {
	for _, f := range ciValues {
		t.Run(f, func(t *testing.T) {
			r := helm(t, "lint", "--strict", chartDir, "-f", filepath.Join(chartDir, "ci", f))
			if r.code != 0 {
				t.Fatalf("helm lint: %s", r)
			}
		})
	}
}

// Every wrong value must fail at helm install time through values.schema.json: with
// failurePolicy Fail a webhook that crash-loops on a bad flag blocks every Consul write.
func TestLintRejectsWrongValuesThroughTheSchema(t *testing.T) {
	cases := []struct {
		name string
		set  string
		// want is the part of the schema error that names the offending value.
		want string
	}{
		{"unknown failure policy", "webhook.failurePolicy=Sometimes", "at '/webhook/failurePolicy': value must be one of 'Fail', 'Ignore'"},
		{"unknown rule action", "rules.gateway-mode-valid=block", "at '/rules/gateway-mode-valid': value must be one of 'deny', 'warn', 'off'"},
		// The error names rules and the bad key, the same way every run.
		{"unknown rule name", "rules.gateway-mode-vaild=deny", "at '/rules': additional properties 'gateway-mode-vaild' not allowed"},
		{"no replicas", "replicaCount=0", "at '/replicaCount': minimum: got 0, want 1"},
		{"timeout above the API server's limit", "webhook.timeoutSeconds=31", "at '/webhook/timeoutSeconds': maximum: got 31, want 30"},
		{"timeout zero", "webhook.timeoutSeconds=0", "at '/webhook/timeoutSeconds': minimum: got 0, want 1"},
		{"partition name not a string", "consul.adminPartitions.name=7", "at '/consul/adminPartitions/name': got number, want string"},
		{"partition name not a DNS label", "consul.adminPartitions.name=AP_1", "at '/consul/adminPartitions/name': 'AP_1' does not match pattern"},
		{"shutdown delay without unit", "shutdownDelay=5", "at '/shutdownDelay': got number, want string"},
		{"shutdown delay in hours", "shutdownDelay=1h", "at '/shutdownDelay': '1h' does not match pattern"},
		{"consul edition unknown", "consul.edition=oss", "at '/consul/edition': value must be one of"},
		{"consul version not a version", "consul.version=latest", "at '/consul/version': 'latest' does not match pattern"},
		{"unknown top-level value", "replicas=3", "additional properties 'replicas' not allowed"},
		{"unknown nested value", "webhook.failurePolcy=Fail", "additional properties 'failurePolcy' not allowed"},
		{"exempt namespace not a namespace name", "webhook.exemptNamespaces[0]=Kube_System", "at '/webhook/exemptNamespaces/0': 'Kube_System' does not match pattern"},
		{"mesh gateway namespace not a namespace name", "meshGateway.namespace=Consul", "at '/meshGateway/namespace': 'Consul' does not match pattern"},
		{"match condition without expression", "webhook.matchConditions[0].name=mine", "at '/webhook/matchConditions/0': missing property 'expression'"},
		{"match condition named like the chart's", "webhook.matchConditions[0].name=not-being-deleted,webhook.matchConditions[0].expression=x", "at '/webhook/matchConditions/0/name': 'not' failed"},
		{"match condition with an unknown field", "webhook.matchConditions[0].name=a,webhook.matchConditions[0].expression=x,webhook.matchConditions[0].expresion=y", "additional properties 'expresion' not allowed"},
		{"service monitor switch not a boolean", "metrics.serviceMonitor.enabled=yes", "at '/metrics/serviceMonitor/enabled': got string, want boolean"},
		{"service monitor interval without unit", "metrics.serviceMonitor.interval=30", "at '/metrics/serviceMonitor/interval': got number, want string"},
		{"service monitor label not a string", "metrics.serviceMonitor.labels.release=1", "at '/metrics/serviceMonitor/labels/release': got number, want string"},
		{"unknown service monitor value", "metrics.serviceMonitor.scrapeInterval=30s", "additional properties 'scrapeInterval' not allowed"},
		{"prometheus rule switch not a boolean", "metrics.prometheusRule.enabled=1", "at '/metrics/prometheusRule/enabled': got number, want boolean"},
		{"certificate expiry of zero days", "metrics.prometheusRule.certificateExpiryDays=0", "at '/metrics/prometheusRule/certificateExpiryDays': minimum: got 0, want 1"},
		{"admission error ratio above one", "metrics.prometheusRule.admissionErrorRatio=5", "at '/metrics/prometheusRule/admissionErrorRatio': maximum: got 5, want 1"},
		{"cache alert delay without unit", "metrics.prometheusRule.cacheNotSyncedFor=5", "at '/metrics/prometheusRule/cacheNotSyncedFor': got number, want string"},
		{"negative audit threshold", "metrics.prometheusRule.auditViolationsThreshold=-1", "at '/metrics/prometheusRule/auditViolationsThreshold': minimum: got -1, want 0"},
		{"unknown prometheus rule value", "metrics.prometheusRule.severity=page", "additional properties 'severity' not allowed"},
		{"dashboard switch not a boolean", "metrics.dashboard.enabled=on", "at '/metrics/dashboard/enabled': got string, want boolean"},
		{"dashboard annotation not a string", "metrics.dashboard.annotations.grafana_folder=2", "at '/metrics/dashboard/annotations/grafana_folder': got number, want string"},
		{"unknown dashboard value", "metrics.dashboard.folder=Consul", "additional properties 'folder' not allowed"},
		{"reports switch not a boolean", "audit.reports.enabled=true1", "at '/audit/reports/enabled': got string, want boolean"},
		{"unknown reports value", "audit.reports.cluster=true", "additional properties 'cluster' not allowed"},
		{"memory limit GOMEMLIMIT cannot be derived from", "resources.limits.memory=0.5Gi", "at '/resources/limits/memory': '0.5Gi' does not match pattern"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := helm(t, "lint", chartDir, "--set", tc.set)
			if r.code == 0 {
				t.Fatalf("helm lint accepted --set %s: %s", tc.set, r)
			}
			out := r.stdout + r.stderr
			if !strings.Contains(out, "values don't meet the specifications of the schema") {
				t.Fatalf("helm lint failed, but not because of values.schema.json: %s", r)
			}
			if !strings.Contains(out, tc.want) {
				t.Fatalf("want %q in the output: %s", tc.want, r)
			}
		})
	}
}

// The schema lists the rule names so that a typo fails the install; the catalogue is the
// source of truth for them.
func TestSchemaRuleNamesAreTheCatalogue(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join(repoRoot(t), chartDir, "values.schema.json"))
	if err != nil {
		t.Fatal(err)
	}
	var schema struct {
		AdditionalProperties *bool `json:"additionalProperties"`
		Properties           struct {
			Rules struct {
				Properties           map[string]json.RawMessage `json:"properties"`
				AdditionalProperties *bool                      `json:"additionalProperties"`
				Definitions          struct {
					Action struct {
						Enum []any `json:"enum"`
					} `json:"action"`
				} `json:"definitions"`
			} `json:"rules"`
		} `json:"properties"`
	}
	if err := json.Unmarshal(raw, &schema); err != nil {
		t.Fatal(err)
	}
	if schema.AdditionalProperties == nil || *schema.AdditionalProperties {
		t.Error("values.schema.json must set additionalProperties: false at the top level")
	}
	rules := schema.Properties.Rules
	// Unknown names are refused by additionalProperties: false, whose error names /rules and
	// the key; propertyNames would report a random other path (a bug of Helm's validator).
	if rules.AdditionalProperties == nil || *rules.AdditionalProperties {
		t.Error("rules must set additionalProperties: false")
	}
	var want []string
	for _, r := range validators.Catalogue() {
		want = append(want, r.Name)
	}
	var got []string
	for name, prop := range rules.Properties {
		got = append(got, name)
		if string(prop) != `{ "$ref": "#/properties/rules/definitions/action" }` && string(prop) != `{"$ref":"#/properties/rules/definitions/action"}` {
			t.Errorf("rules.%s is %s, want a reference to the action definition", name, prop)
		}
	}
	slices.Sort(want)
	slices.Sort(got)
	if !slices.Equal(got, want) {
		t.Errorf("rules.properties of values.schema.json are not the rule catalogue:\n got %v\nwant %v", got, want)
	}
	actions := rules.Definitions.Action.Enum
	for _, a := range []validators.Action{validators.Deny, validators.Warn, validators.Off} {
		if !slices.Contains(actions, any(string(a))) {
			t.Errorf("rule actions of values.schema.json lack %q: %v", a, actions)
		}
	}
	for _, a := range actions {
		s, isString := a.(string)
		if a == false {
			continue // YAML 1.1 reads an unquoted off as false; the chart renders it as off
		}
		if _, err := validators.ParseAction(s); !isString || err != nil {
			t.Errorf("values.schema.json allows rule action %v, which --rule refuses", a)
		}
	}
}

func TestTemplateWithoutCertManagerNeedsTheSecretAndCA(t *testing.T) {
	r := helm(t, "template", release, chartDir, "--namespace", namespace, "--set", "certManager.enabled=false")
	if r.code == 0 {
		t.Fatalf("helm template accepted certManager.enabled=false without tls values: %s", r)
	}
	for _, want := range []string{"certManager.enabled is false", "tls.existingSecret", "tls.caBundle"} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("want %q in the error: %s", want, r)
		}
	}
}
