{{- /* One Helm Application of the environment: (dict "root" $ "name" ... "wave" ... "chart" ... "release" ...
"namespace" ... "valueFiles" (list ...) "values" (dict ...) "skipCrds" bool). */ -}}
{{- define "bosun-environment.application" -}}
{{- $root := .root -}}
{{- $environment := required "environment: the folder of deploy/environments/ to render" $root.Values.environment -}}
apiVersion: argoproj.io/v1alpha1
kind: Application
metadata:
  name: bosun-{{ $environment }}-{{ .name }}
  namespace: {{ $root.Release.Namespace }}
  annotations:
    argocd.argoproj.io/sync-wave: {{ .wave | quote }}
  labels:
    app.kubernetes.io/part-of: bosun
    bosun.dev/environment: {{ $environment }}
  finalizers:
    - resources-finalizer.argocd.argoproj.io
spec:
  project: bosun
  source:
    repoURL: {{ required "repoURL: the Git repository Argo CD reads" $root.Values.repoURL | quote }}
    targetRevision: {{ $root.Values.targetRevision | quote }}
    path: {{ .chart }}
    helm:
      releaseName: {{ .release }}
      {{- if .skipCrds }}
      skipCrds: true
      {{- end }}
      valueFiles:
        {{- range .valueFiles }}
        - ../../deploy/environments/{{ $environment }}/{{ . }}
        {{- end }}
      {{- with .values }}
      valuesObject: {{- toYaml . | nindent 8 }}
      {{- end }}
  destination:
    name: {{ $root.Values.cluster | default $environment }}
    namespace: {{ .namespace }}
  syncPolicy:
    automated:
      prune: true
      selfHeal: true
    syncOptions:
      - CreateNamespace=true
      - ServerSideApply=true
    retry:
      limit: 5
      backoff:
        duration: 10s
        factor: 2
        maxDuration: 3m
{{- end -}}
