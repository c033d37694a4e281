// Log in, pick a project, list its tasks; see and send the invitations of the teams you manage, and accept one
// from an invitation link: the generated TanStack Query options over the generated SDK.
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { type FormEvent, useState } from 'react';

import {
  authLoginMutation,
  invitationsAcceptInvitationMutation,
  invitationsCreateInvitationMutation,
  invitationsListInvitationsOptions,
  invitationsListInvitationsQueryKey,
  projectsListProjectsOptions,
  tasksListProjectTasksOptions,
  teamsListTeamsOptions,
} from '../src/client/@tanstack/react-query.gen.ts';
import { client } from '../src/client/client.gen.ts';
import type { Problem, TeamPublic, TeamRole } from '../src/client/index.ts';

// The API's origin: `?api=` (the tests start it on a free port), else the development server's default.
const apiUrl = new URLSearchParams(window.location.search).get('api') ?? 'http://127.0.0.1:8000';
let token = '';
client.setConfig({ baseUrl: apiUrl, auth: () => token });

// An invitation link carries its token in the fragment (`#invitation=...`), which the browser never sends anywhere.
const invitationToken = new URLSearchParams(window.location.hash.slice(1)).get('invitation');

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

function AcceptInvitation({ token: invitation }: { token: string }) {
  const queryClient = useQueryClient();
  const accept = useMutation({
    ...invitationsAcceptInvitationMutation(),
    onSuccess: () => {
      window.history.replaceState(null, '', window.location.pathname + window.location.search);
      return queryClient.invalidateQueries();
    },
  });
  if (accept.isSuccess) {
    return (
      <p role="status">
        You joined {accept.data.name} as {accept.data.role}.
      </p>
    );
  }
  return (
    <section aria-label="Invitation">
      <p>You were invited to join a team.</p>
      <button type="button" disabled={accept.isPending} onClick={() => accept.mutate({ body: { token: invitation } })}>
        Accept the invitation
      </button>
      {accept.isError && <p role="alert">{describe(accept.error)}</p>}
    </section>
  );
}

function TeamInvitations({ team }: { team: TeamPublic }) {
  const queryClient = useQueryClient();
  const path = { team_id: team.id };
  const invitations = useQuery(invitationsListInvitationsOptions({ path }));
  const invite = useMutation({
    ...invitationsCreateInvitationMutation(),
    onSuccess: () => queryClient.invalidateQueries({ queryKey: invitationsListInvitationsQueryKey({ path }) }),
  });
  const submit = (event: FormEvent<HTMLFormElement>) => {
    event.preventDefault();
    const form = new FormData(event.currentTarget);
    const role = String(form.get('role')) as TeamRole;
    invite.mutate({ path, body: { email: String(form.get('email')), role } });
    event.currentTarget.reset();
  };
  return (
    <section aria-label={`Invitations to ${team.name}`}>
      <h2>Invitations to {team.name}</h2>
      <form onSubmit={submit} aria-label={`Invite to ${team.name}`}>
        <label>
          Invite email
          <input name="email" type="email" required />
        </label>
        <label>
          Role
          <select name="role" defaultValue="member">
            <option value="member">member</option>
            <option value="admin">admin</option>
            {team.role === 'owner' && <option value="owner">owner</option>}
          </select>
        </label>
        <button type="submit" disabled={invite.isPending}>
          Invite
        </button>
      </form>
      {invite.isError && <p role="alert">{describe(invite.error)}</p>}
      {invitations.isPending && <p className="muted">Loading invitations…</p>}
      {invitations.isError && <p role="alert">{describe(invitations.error)}</p>}
      {invitations.isSuccess &&
        (invitations.data.items.length === 0 ? (
          <p className="muted">No pending invitations.</p>
        ) : (
          <table aria-label={`Pending invitations to ${team.name}`}>
            <thead>
              <tr>
                <th>Email</th>
                <th>Role</th>
                <th>Invited by</th>
                <th>Expires</th>
              </tr>
            </thead>
            <tbody>
              {invitations.data.items.map((invitation) => (
                <tr key={invitation.id}>
                  <td>{invitation.email}</td>
                  <td>{invitation.role}</td>
                  <td>{invitation.invited_by?.full_name ?? invitation.invited_by?.email ?? '—'}</td>
                  <td>{invitation.expires_at.slice(0, 10)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        ))}
    </section>
  );
}

function Invitations() {
  // Owners and admins see and send their teams' invitations; members see none.
  const teams = useQuery(teamsListTeamsOptions({ query: { limit: 200 } }));
  if (!teams.isSuccess) return null;
  const managed = teams.data.items.filter((team) => team.role === 'owner' || team.role === 'admin');
  return (
    <>
      {managed.map((team) => (
        <TeamInvitations key={team.id} team={team} />
      ))}
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
        <>
          {invitationToken && <AcceptInvitation token={invitationToken} />}
          <Projects />
          <Invitations />
        </>
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
