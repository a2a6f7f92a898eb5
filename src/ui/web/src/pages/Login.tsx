import { useState } from 'react';
import { Alert, Button, Center, Paper, PasswordInput, Stack, Text, TextInput, Title } from '@mantine/core';
import { api, errorMessage } from '../lib/api';
import type { UserInfo } from '../lib/types';

export function LoginPage({ onLoggedIn }: { onLoggedIn: (u: UserInfo) => void }) {
  const [user, setUser] = useState('');
  const [pass, setPass] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState('');
  const submit = async (e: React.FormEvent) => {
    e.preventDefault();
    setBusy(true);
    setError('');
    try {
      await api('/users/login', { body: { user, pass }, what: 'Logging in' });
      onLoggedIn(await api<UserInfo>('/users/current'));
    } catch (err) {
      setError(errorMessage(err));
    } finally {
      setBusy(false);
    }
  };
  return (
    <Center mih="100vh" p="md" component="main">
      <Paper withBorder shadow="sm" p="xl" w="100%" maw={380}>
        <form onSubmit={submit} aria-label="Log in">
          <Stack>
            <div>
              <Title order={1} size="h2">
                Sluice
              </Title>
              <Text size="sm" className="dimmed-text">
                DICOM ingestion, storage and transfer
              </Text>
            </div>
            {error && (
              <Alert color="red" role="alert">
                {error}
              </Alert>
            )}
            <TextInput
              label="User name"
              autoComplete="username"
              required
              value={user}
              onChange={(e) => setUser(e.currentTarget.value)}
              autoFocus
            />
            <PasswordInput
              label="Password"
              autoComplete="current-password"
              required
              value={pass}
              onChange={(e) => setPass(e.currentTarget.value)}
            />
            <Button type="submit" loading={busy}>
              Log in
            </Button>
          </Stack>
        </form>
      </Paper>
    </Center>
  );
}
