package framework_test

import (
	"testing"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/diff"

	"github.com/consul-peering-guard/consul-peering-guard/api/kinds"
	"github.com/consul-peering-guard/consul-peering-guard/test/framework"
	"github.com/consul-peering-guard/consul-peering-guard/webhook"
)

func TestConfigurationSelectorsAndConditions(t *testing.T) {
	deleting := admissionregistrationv1.MatchCondition{Name: webhook.NotBeingDeletedCondition, Expression: webhook.NotBeingDeletedExpression}
	extra := admissionregistrationv1.MatchCondition{Name: "not-argo", Expression: "request.userInfo.username != 'argo'"}
	exemptReq := metav1.LabelSelectorRequirement{Key: "kubernetes.io/metadata.name", Operator: metav1.LabelSelectorOpNotIn, Values: []string{"restore", "kube-system"}}
	team := metav1.LabelSelectorRequirement{Key: "team", Operator: metav1.LabelSelectorOpExists}
	cases := []struct {
		name           string
		selector       *metav1.LabelSelector
		exempt         []string
		conditions     []admissionregistrationv1.MatchCondition
		wantSelector   *metav1.LabelSelector
		wantConditions []admissionregistrationv1.MatchCondition
	}{
		{
			name:           "defaults: every namespace, objects being deleted skipped",
			wantConditions: []admissionregistrationv1.MatchCondition{deleting},
		},
		{
			name:           "exempt namespaces alone",
			exempt:         []string{"restore", "kube-system"},
			wantSelector:   &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{exemptReq}},
			wantConditions: []admissionregistrationv1.MatchCondition{deleting},
		},
		{
			name:     "exempt namespaces merged into a selector",
			selector: &metav1.LabelSelector{MatchLabels: map[string]string{"consul": "yes"}, MatchExpressions: []metav1.LabelSelectorRequirement{team}},
			exempt:   []string{"restore", "kube-system"},
			wantSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"consul": "yes"},
				MatchExpressions: []metav1.LabelSelectorRequirement{team, exemptReq}},
			wantConditions: []admissionregistrationv1.MatchCondition{deleting},
		},
		{
			name:           "extra match conditions follow the deletion one",
			conditions:     []admissionregistrationv1.MatchCondition{extra},
			wantConditions: []admissionregistrationv1.MatchCondition{deleting, extra},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var before *metav1.LabelSelector
			if tc.selector != nil {
				before = tc.selector.DeepCopy()
			}
			vwc := framework.WebhookConfiguration(framework.WebhookConfigurationOptions{
				Name: "cpg",
				ClientConfig: func(string) admissionregistrationv1.WebhookClientConfig {
					return admissionregistrationv1.WebhookClientConfig{}
				},
				FailurePolicy:     admissionregistrationv1.Fail,
				TimeoutSeconds:    5,
				NamespaceSelector: tc.selector,
				ExemptNamespaces:  tc.exempt,
				MatchConditions:   tc.conditions,
			})
			if len(vwc.Webhooks) != len(kinds.Consul) {
				t.Fatalf("%d webhooks", len(vwc.Webhooks))
			}
			for _, w := range vwc.Webhooks {
				if !equality.Semantic.DeepEqual(w.NamespaceSelector, tc.wantSelector) {
					t.Errorf("%s: namespaceSelector (- got, + want):\n%s", w.Name, diff.Diff(w.NamespaceSelector, tc.wantSelector))
				}
				if !equality.Semantic.DeepEqual(w.MatchConditions, tc.wantConditions) {
					t.Errorf("%s: matchConditions (- got, + want):\n%s", w.Name, diff.Diff(w.MatchConditions, tc.wantConditions))
				}
			}
			if !equality.Semantic.DeepEqual(tc.selector, before) {
				t.Errorf("the caller's selector was changed: %v", tc.selector)
			}
			// Entries do not share slices: changing one leaves the others alone.
			vwc.Webhooks[0].MatchConditions[0].Name = "changed"
			if vwc.Webhooks[1].MatchConditions[0].Name != webhook.NotBeingDeletedCondition {
				t.Error("webhook entries share their match conditions")
			}
		})
	}
}
