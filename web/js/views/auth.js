// Sign in, or create an account with a role.

import { call } from '../api.js';
import { field, h, replaceChildren, select } from '../dom.js';

export function mount(root, { message, onSignedIn }) {
  const email = field('Email', { type: 'email', autocomplete: 'username', required: true });
  const password = field('Password', { type: 'password', autocomplete: 'current-password', required: true });
  const signInButton = h('button', { type: 'submit', class: 'primary' }, 'Sign in');
  const signInError = h('p', { class: 'form-error', role: 'alert' });
  const signIn = h('form', { class: 'card auth-form', 'aria-labelledby': 'sign-in-title' },
    h('h2', { id: 'sign-in-title' }, 'Sign in'),
    email.wrapper, password.wrapper, signInError, signInButton);
  signIn.addEventListener('submit', async (event) => {
    event.preventDefault();
    await submit(signInButton, signInError, '/api/auth/login',
      { email: email.input.value, password: password.input.value }, onSignedIn);
  });

  const name = field('Your name', { autocomplete: 'name', required: true, maxlength: 200 });
  const newEmail = field('Work email', { type: 'email', autocomplete: 'email', required: true });
  const newPassword = field('Choose a password', { type: 'password', autocomplete: 'new-password', required: true, minlength: 8 },
    'At least 8 characters.');
  const role = select('I am', [['seller', 'A seller (MSME listing invoices)'], ['investor', 'An investor'],
    ['buyer', 'A buyer (corporate paying invoices)']]);
  const company = field('Company (optional)', { autocomplete: 'organization', maxlength: 200 });
  const registerButton = h('button', { type: 'submit', class: 'primary' }, 'Create account');
  const registerError = h('p', { class: 'form-error', role: 'alert' });
  const register = h('form', { class: 'card auth-form', 'aria-labelledby': 'register-title' },
    h('h2', { id: 'register-title' }, 'Create account'),
    name.wrapper, newEmail.wrapper, newPassword.wrapper, role.wrapper, company.wrapper, registerError, registerButton);
  register.addEventListener('submit', async (event) => {
    event.preventDefault();
    const body = { name: name.input.value, email: newEmail.input.value, password: newPassword.input.value, role: role.input.value };
    if (company.input.value.trim()) body.company = company.input.value;
    await submit(registerButton, registerError, '/api/auth/register', body, onSignedIn);
  });

  replaceChildren(root,
    h('section', { class: 'auth' },
      h('div', { class: 'auth-intro' },
        h('h1', {}, 'Invoice financing, live'),
        h('p', {}, 'Sellers list invoices, investors fund them from their wallets, buyers repay on the due date. Every change reaches your screen as it happens.'),
        message ? h('p', { class: 'notice', role: 'status' }, message) : null),
      h('div', { class: 'auth-forms' }, signIn, register)));
  email.input.focus();
}

async function submit(button, errorElement, path, body, onSignedIn) {
  button.disabled = true;
  errorElement.textContent = '';
  try {
    const result = await call('POST', path, { body, token: null });
    onSignedIn({ token: result.token, user: result.user });
  } catch (error) {
    errorElement.textContent = error.message;
    button.disabled = false;
  }
}
