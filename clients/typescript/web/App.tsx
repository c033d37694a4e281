// Log in, pick a project, list its tasks: the generated TanStack Query options over the generated SDK.
import { useMutation, useQuery } from '@tanstack/react-query';
import { type FormEvent, useState } from 'react';

import {
  authLoginMutation,
  projectsListProjectsOptions,
  tasksListProjectTasksOptions,
} from '../src/client/@tanstack/react-query.gen.ts';
import { client } from '../src/client/client.gen.ts';
import type { Problem } from '../src/client/index.ts';

// The API's origin: `?api=` (the tests start it on a free port), else the development server's default.
const apiUrl = new URLSearchParams(window.location.search).get('api') ?? 'http://127.0.0.1:8000';
let token = '';
client.setConfig({ baseUrl: apiUrl, auth: () => token });

function describe(error: unknown): string {
  if (error instanceof TypeError) {
    // fetch rejects without a response when the browser refuses it (CORS) or the server is unreachable.
    return `The API at ${apiUrl} could not be reached from ${window.location.origin}: the request was refused (CORS) or the server is down.`;
  }
  const problem = error as Partial<Problem>;
  return problem.detail ?? 'Something went wrong.';
}

function Login({ onToken }: { onToken: (token: string) => void }) {
  const login = useMutation({ ...authLoginMutation(), onSuccess: (data) => onToken(data.access_token) });
  const submit = (event: FormEvent<HTMLFormElement>) => {
    event.preventDefault();
    const form = new FormData(event.currentTarget);
    login.mutate({ body: { username: String(form.get('email')), password: String(form.get('password')) } });
  };
  return (
    <>
      <form onSubmit={submit} aria-label="Log in">
        <label>
          Email
          <input name="email" type="email" required autoComplete="username" />
        </label>
        <label>
          Password
          <input name="password" type="password" required autoComplete="current-password" />
        </label>
        <button type="submit" disabled={login.isPending}>
          {login.isPending ? 'Logging in…' : 'Log in'}
        </button>
      </form>
      {login.isError && <p role="alert">{describe(login.error)}</p>}
    </>
  );
}

function Tasks({ projectId }: { projectId: string }) {
  const tasks = useQuery(tasksListProjectTasksOptions({ path: { project_id: projectId } }));
  if (tasks.isPending) return <p className="muted">Loading tasks…</p>;
  if (tasks.isError) return <p role="alert">{describe(tasks.error)}</p>;
  return (
    <table aria-label="Tasks">
      <thead>
        <tr>
          <th>Title</th>
          <th>Status</th>
          <th>Priority</th>
          <th>Assignee</th>
          <th>Due</th>
        </tr>
      </thead>
      <tbody>
        {tasks.data.items.map((task) => (
          <tr key={task.id}>
            <td>{task.title}</td>
            <td>{task.status.replace('_', ' ')}</td>
            <td>{task.priority}</td>
            <td>{task.assignee?.full_name ?? task.assignee?.email ?? '—'}</td>
            <td>{task.due_date ?? '—'}</td>
          </tr>
        ))}
      </tbody>
      <caption className="muted">{tasks.data.total} tasks</caption>
    </table>
  );
}

function Projects() {
  const projects = useQuery(projectsListProjectsOptions());
  const [chosen, setChosen] = useState<string>();
  if (projects.isPending) return <p className="muted">Loading projects…</p>;
  if (projects.isError) return <p role="alert">{describe(projects.error)}</p>;
  const projectId = chosen ?? projects.data.items[0]?.id;
  if (!projectId) return <p className="muted">No projects yet.</p>;
  return (
    <>
      <label>
        Project
        <select value={projectId} onChange={(event) => setChosen(event.target.value)}>
          {projects.data.items.map((project) => (
            <option key={project.id} value={project.id}>
              {project.team.name} / {project.name}
            </option>
          ))}
        </select>
      </label>
      <Tasks projectId={projectId} />
    </>
  );
}

export function App() {
  const [loggedIn, setLoggedIn] = useState(false);
  return (
    <main>
      <h1>Bosun tasks</h1>
      <p className="muted">
        API {apiUrl}, page {window.location.origin}
      </p>
      {loggedIn ? (
        <Projects />
      ) : (
        <Login
          onToken={(value) => {
            token = value;
            setLoggedIn(true);
          }}
        />
      )}
    </main>
  );
}
