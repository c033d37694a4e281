// The generated SDK against the real service: sign up, log in, create a team, a project and a task, read them
// back with their generated types; errors arrive as typed problems.
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { createClient } from '../src/client/client/index.ts';
import {
  authLogin,
  authSignup,
  type InvitationPublic,
  invitationsAcceptInvitation,
  invitationsCreateInvitation,
  invitationsListInvitations,
  invitationsRevokeInvitation,
  type Problem,
  projectsCreateProject,
  type ProjectPublic,
  tasksCreateTask,
  tasksListProjectTasks,
  type TaskPublic,
  tasksReadTask,
  tasksUpdateTask,
  teamsCreateTeam,
  type TeamPublic,
  usersReadMe,
} from '../src/client/index.ts';
import { testEnvironment } from './service.ts';

const { apiUrl } = testEnvironment();

test('sign up, log in, create a team, project and task, and read them back typed', async () => {
  let token = '';
  // throwOnError per call types `data` as present (a failed call throws its problem).
  const client = createClient({ baseUrl: apiUrl, auth: () => token });
  const ok = { client, throwOnError: true } as const;
  const email = 'ada@example.com';
  const password = 'correct-horse-battery';

  const { data: user } = await authSignup({ ...ok, body: { email, password, full_name: 'Ada' } });
  assert.equal(user.email, email);

  const { data: login } = await authLogin({ ...ok, body: { username: email, password } });
  assert.equal(login.token_type, 'bearer');
  assert.ok(login.expires_in > 0);
  token = login.access_token;

  const { data: me } = await usersReadMe(ok);
  assert.equal(me.id, user.id);

  const { data: team } = await teamsCreateTeam({ ...ok, body: { name: 'Platform' } });
  const teamRole: TeamPublic['role'] = team.role;
  assert.equal(teamRole, 'owner');

  const { data: project } = await projectsCreateProject({
    ...ok,
    path: { team_id: team.id },
    body: { name: 'Roadmap', description: 'What comes next' },
  });
  const counts: ProjectPublic['task_counts'] = project.task_counts;
  assert.deepEqual(counts, { todo: 0, in_progress: 0, done: 0 });

  const { data: created } = await tasksCreateTask({
    ...ok,
    path: { project_id: project.id },
    body: { title: 'Write the contract', priority: 'high', assignee_id: user.id, due_date: '2030-01-31' },
  });

  const { data: page } = await tasksListProjectTasks({ ...ok, path: { project_id: project.id } });
  assert.equal(page.total, 1);
  const [listed] = page.items;
  assert.ok(listed);
  const task: TaskPublic = listed;
  assert.equal(task.id, created.id);
  assert.equal(task.title, 'Write the contract');
  assert.equal(task.status, 'todo'); // a default the server filled in, typed as TaskStatus
  assert.equal(task.priority, 'high');
  assert.equal(task.due_date, '2030-01-31');
  assert.equal(task.project.name, 'Roadmap');
  assert.equal(task.assignee?.email, email);
  assert.equal(task.created_by.id, user.id);
  assert.equal(task.version, 1);
  assert.ok(!Number.isNaN(Date.parse(task.created_at)));
});

test('errors are typed problems: 401 without a token, 412 for a stale If-Match', async () => {
  const anonymous = createClient({ baseUrl: apiUrl });
  const unauthenticated = await usersReadMe({ client: anonymous });
  assert.equal(unauthenticated.response?.status, 401);
  const problem: Problem | undefined = unauthenticated.error;
  assert.equal(problem?.status, 401);
  assert.match(problem?.detail ?? '', /Not authenticated/);

  let token = '';
  // throwOnError per call types `data` as present (a failed call throws its problem).
  const client = createClient({ baseUrl: apiUrl, auth: () => token });
  const ok = { client, throwOnError: true } as const;
  const email = 'grace@example.com';
  const password = 'correct-horse-battery';
  await authSignup({ ...ok, body: { email, password } });
  token = (await authLogin({ ...ok, body: { username: email, password } })).data.access_token;
  const { data: team } = await teamsCreateTeam({ ...ok, body: { name: 'Compilers' } });
  const { data: project } = await projectsCreateProject({ ...ok, path: { team_id: team.id }, body: { name: 'COBOL' } });
  const { data: task } = await tasksCreateTask({ ...ok, path: { project_id: project.id }, body: { title: 'Ship' } });

  const read = await tasksReadTask({ ...ok, path: { task_id: task.id } });
  const etag = read.response.headers.get('ETag');
  assert.ok(etag);
  const updated = await tasksUpdateTask({
    ...ok,
    path: { task_id: task.id },
    headers: { 'if-match': etag },
    body: { status: 'done' },
  });
  assert.equal(updated.data.status, 'done');
  assert.equal(updated.data.version, 2);

  const stale = await tasksUpdateTask({
    client,
    throwOnError: false,
    path: { task_id: task.id },
    headers: { 'if-match': etag },
    body: { status: 'todo' },
  });
  assert.equal(stale.response?.status, 412);
  assert.equal(stale.error?.status, 412);
});

test('invitations: sent with 202 whether or not the address has an account, listed, revoked; a bad token is a typed 422', async () => {
  let token = '';
  const client = createClient({ baseUrl: apiUrl, auth: () => token });
  const ok = { client, throwOnError: true } as const;
  const password = 'correct-horse-battery';
  for (const email of ['hopper@example.com', 'known@example.com']) {
    await authSignup({ ...ok, body: { email, password } });
  }
  token = (await authLogin({ ...ok, body: { username: 'hopper@example.com', password } })).data.access_token;
  const { data: team } = await teamsCreateTeam({ ...ok, body: { name: 'Navy' } });
  const path = { team_id: team.id };

  const sent = [];
  for (const email of ['known@example.com', 'nobody-yet@example.com']) {
    const invited = await invitationsCreateInvitation({ ...ok, path, body: { email, role: 'admin' } });
    assert.equal(invited.response.status, 202);
    sent.push(invited.data);
  }
  const [known, unknown] = sent;
  assert.ok(known && unknown);
  assert.deepEqual(Object.keys(known).sort(), Object.keys(unknown).sort());
  assert.deepEqual([known.team, known.role], [{ id: team.id, name: 'Navy' }, 'admin']);

  const { data: pending } = await invitationsListInvitations({ ...ok, path });
  const listed: InvitationPublic[] = pending.items;
  assert.deepEqual(listed.map((item) => item.email), ['nobody-yet@example.com', 'known@example.com']);
  await invitationsRevokeInvitation({ ...ok, path: { ...path, invitation_id: unknown.id } });
  assert.equal((await invitationsListInvitations({ ...ok, path })).data.total, 1);

  const refused = await invitationsAcceptInvitation({ client, body: { token: 'x'.repeat(43) } });
  assert.equal(refused.response?.status, 422);
  const problem: Problem | undefined = refused.error;
  assert.match(problem?.detail ?? '', /no invitation has this token/);
});
