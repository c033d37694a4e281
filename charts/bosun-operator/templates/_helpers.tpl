{{- define "bosun-operator.name" -}}
{{- .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "bosun-operator.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "bosun-operator.selectorLabels" -}}
app.kubernetes.io/name: {{ include "bosun-operator.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "bosun-operator.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{ include "bosun-operator.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: bosun
app.kubernetes.io/component: operator
{{- end -}}

{{- define "bosun-operator.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "bosun-operator.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "bosun-operator.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}

{{/* The admission webhook's Service and (cluster-scoped, so named after the namespace too) configuration. */}}
{{- define "bosun-operator.webhookService" -}}
{{- printf "%s-webhook" (include "bosun-operator.fullname" .) | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "bosun-operator.webhookConfiguration" -}}
{{- printf "%s.%s" (include "bosun-operator.fullname" .) .Release.Namespace -}}
{{- end -}}

{{/* Cluster-scoped: keep the CA bundle of its own webhook configuration set (that one object only). */}}
{{- define "bosun-operator.webhookRules" -}}
{{- if .Values.admission.enabled }}
- apiGroups: [admissionregistration.k8s.io]
  resources: [validatingwebhookconfigurations]
  resourceNames: [{{ include "bosun-operator.webhookConfiguration" . }}]
  verbs: [get, patch]
{{- end }}
{{- end -}}

{{/* The rules the operator needs: nothing it does not use. */}}
{{- define "bosun-operator.rules" -}}
- apiGroups: [bosun.dev]
  resources: [appreleases]
  verbs: [get, list, watch, patch]
- apiGroups: [bosun.dev]
  resources: [appreleases/status]
  verbs: [get, patch]
# Owner references that block the owner's deletion need this where OwnerReferencesPermissionEnforcement is on.
- apiGroups: [bosun.dev]
  resources: [appreleases/finalizers]
  verbs: [update]
- apiGroups: [apps]
  resources: [deployments]
  verbs: [get, list, watch, create, patch]
# patch: a failed Job is marked with the generation it failed at; delete: the next spec change retries it.
- apiGroups: [batch]
  resources: [jobs]
  verbs: [get, list, watch, create, patch, delete]
# A failed migration's termination message (the tail of its log) is in its pod's status.
- apiGroups: [""]
  resources: [pods]
  verbs: [list]
- apiGroups: [""]
  resources: [pods/log]
  verbs: [get]
# The settings the template takes from ConfigMaps are validated with their values.
- apiGroups: [""]
  resources: [configmaps]
  verbs: [get]
{{- if .Values.rbac.readSecrets }}
# The settings the template takes from Secrets (SECRET_KEY, DATABASE_URL...) are validated with their values too.
- apiGroups: [""]
  resources: [secrets]
  verbs: [get]
{{- end }}
- apiGroups: ["", events.k8s.io]
  resources: [events]
  verbs: [create]
{{- end -}}
