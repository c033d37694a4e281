"""Locust scenario: a team member's day — read their tasks and projects, create and update tasks.

    uv run --group loadtest locust -f loadtests/locustfile.py --host http://127.0.0.1:8000

Each simulated user signs up (local auth), creates a team and a project, then mixes reads and writes with the
weights below. Every response's X-Query-Count (when the service exposes it) is checked against the route's
statement budget, so an N+1 shows up as failures, not only as latency.
"""

import random
import uuid

from locust import HttpUser, between, task

# Most SQL statements a request to each route may run (the tests assert the exact numbers).
QUERY_BUDGETS = {
    "GET /api/v1/users/me": 1,
    "GET /api/v1/users/me/tasks": 3,
    "GET /api/v1/projects": 4,
    "GET /api/v1/projects/{id}/tasks": 4,
    "GET /api/v1/tasks/{id}": 2,
    "POST /api/v1/projects/{id}/tasks": 5,
    "PATCH /api/v1/tasks/{id}": 5,
}


class TeamMember(HttpUser):
    wait_time = between(0.1, 1.0)

    def on_start(self) -> None:
        email = f"load-{uuid.uuid4().hex[:12]}@example.com"
        password = "load-test-password"
        self.client.post("/api/v1/auth/signup", json={"email": email, "password": password}, name="POST /auth/signup")
        token = self.client.post(
            "/api/v1/auth/token", data={"username": email, "password": password}, name="POST /auth/token"
        ).json()["access_token"]
        self.client.headers["Authorization"] = f"Bearer {token}"
        self.me = self.client.get("/api/v1/users/me").json()["id"]
        team = self.client.post("/api/v1/teams", json={"name": "Load team"}, name="POST /api/v1/teams").json()
        self.project = self.client.post(
            f"/api/v1/teams/{team['id']}/projects",
            json={"name": "Load project"},
            name="POST /api/v1/teams/{id}/projects",
        ).json()["id"]
        self.task_ids: list[str] = []
        for _ in range(5):
            self.create_task()

    def _get(self, path: str, name: str) -> None:
        with self.client.get(path, name=name, catch_response=True) as response:
            check_budget(response, name)

    @task(5)
    def my_tasks(self) -> None:
        self._get("/api/v1/users/me/tasks?limit=50", "GET /api/v1/users/me/tasks")

    @task(3)
    def projects(self) -> None:
        self._get("/api/v1/projects?limit=50", "GET /api/v1/projects")

    @task(5)
    def project_tasks(self) -> None:
        self._get(f"/api/v1/projects/{self.project}/tasks?limit=50", "GET /api/v1/projects/{id}/tasks")

    @task(3)
    def one_task(self) -> None:
        if self.task_ids:
            self._get(f"/api/v1/tasks/{random.choice(self.task_ids)}", "GET /api/v1/tasks/{id}")

    @task(2)
    def create_task(self) -> None:
        name = "POST /api/v1/projects/{id}/tasks"
        body = {
            "title": f"task {uuid.uuid4().hex[:6]}",
            "priority": random.choice(["low", "medium", "high"]),
            "assignee_id": self.me,
        }
        with self.client.post(
            f"/api/v1/projects/{self.project}/tasks", json=body, name=name, catch_response=True
        ) as response:
            if check_budget(response, name):
                self.task_ids.append(response.json()["id"])

    @task(2)
    def update_task(self) -> None:
        if not self.task_ids:
            return
        name = "PATCH /api/v1/tasks/{id}"
        task_id = random.choice(self.task_ids)
        status = random.choice(["todo", "in_progress", "done"])
        with self.client.patch(
            f"/api/v1/tasks/{task_id}", json={"status": status}, name=name, catch_response=True
        ) as response:
            check_budget(response, name)


def check_budget(response: object, name: str) -> bool:
    """Fail the request when it errs or runs more SQL statements than its budget."""
    status = getattr(response, "status_code", 0)
    if not 200 <= status < 300:
        response.failure(f"HTTP {status}")  # type: ignore[attr-defined]
        return False
    count = getattr(response, "headers", {}).get("X-Query-Count")
    budget = QUERY_BUDGETS.get(name)
    if count is not None and budget is not None and int(count) > budget:
        response.failure(f"{count} SQL statements, budget {budget}")  # type: ignore[attr-defined]
        return False
    response.success()  # type: ignore[attr-defined]
    return True
