import { Select, Stack, Text, Title } from '@mantine/core';
import { useQuery } from '@tanstack/react-query';
import { api } from '../lib/api';
import { useKept } from '../lib/state';
import type { ImportSession } from '../lib/types';
import { Uploader } from '../components/Uploader';

export function UploadPage() {
  const sessions = useQuery({
    queryKey: ['imports'],
    queryFn: () => api<ImportSession[]>('/import/sessions?count=1000'),
  });
  const [target, setTarget] = useKept<string>('upload.target', 'user');
  return (
    <Stack>
      <Title order={2}>Upload</Title>
      <Text size="sm">
        Files are stored only once they are safely on disk; each file gets its own answer below. Files that
        are not valid DICOM are refused and kept in the quarantine with the reason.
      </Text>
      <Select
        label="Upload as"
        w={360}
        allowDeselect={false}
        value={target}
        onChange={(v) => setTarget(v ?? 'user')}
        data={[
          { value: 'user', label: 'My upload (source: user)' },
          ...(sessions.data ?? []).map((s) => ({ value: String(s.id), label: `Import session "${s.name}"` })),
        ]}
        description="An import session counts what it received, added and refused"
      />
      <Uploader
        key={target}
        url={target === 'user' ? '/api/images' : `/api/import/sessions/${target}/images`}
      />
    </Stack>
  );
}
