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
    # Client-side diff. With ServerSideApply, Argo CD would diff by a server-side dry run, which the operator's
    # admission webhook refuses for bad settings; Argo CD then keeps its last diff and shows a refused commit as
    # Synced. Diffed on the client, the commit is OutOfSync and its sync fails with the webhook's message.
    argocd.argoproj.io/compare-options: ServerSideDiff=false
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
      # A retry syncs what Git says now: a commit that fixes or reverts a refused one is not queued behind its
      # retries.
      refresh: true
      backoff:
        duration: 10s
        factor: 2
        maxDuration: 3m
{{- end -}}
