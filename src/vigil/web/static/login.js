// The login page: the only page served without a session.
"use strict";

document.querySelector("#login-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const error = document.querySelector("#login-error");
  error.textContent = "";
  const body = {
    username: document.querySelector("#l-user").value,
    password: document.querySelector("#l-pass").value,
  };
  const response = await fetch("/api/auth/login", {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(body),
  });
  if (response.ok) {
    location.href = "/";
    return;
  }
  const answer = await response.json().catch(() => ({}));
  const wait = response.headers.get("retry-after");
  error.textContent =
    response.status === 429
      ? `Too many attempts: try again in ${wait} s.`
      : answer.message || `Login failed (HTTP ${response.status}).`;
});
