/**
 * Upload by drag and drop (files and whole folders), by file chooser or folder chooser, with a progress bar
 * and a result per file: stored (new), duplicate (the same instance was already stored) or refused with the
 * server's reason. Files go one request each (multipart part `file`), three at a time.
 */
import { useRef, useState } from 'react';
import { Badge, Button, Group, Progress, Stack, Table, Text } from '@mantine/core';
import { useQueryClient } from '@tanstack/react-query';
import { IconFolderOpen, IconUpload } from '@tabler/icons-react';
import { describeFailure } from '../lib/api';
import { bytes } from '../lib/format';
import type { Image } from '../lib/types';
import { AppLink } from './Links';

type Result =
  | { state: 'waiting' | 'sending' }
  | { state: 'stored' | 'duplicate'; image: Image }
  | { state: 'refused' | 'failed'; reason: string };

interface Item {
  name: string;
  size: number;
  file: File;
  result: Result;
}

const CONCURRENCY = 3;

/** Every file below dropped items, folders walked recursively. */
async function filesOf(items: DataTransferItemList): Promise<File[]> {
  const entries = [...items].map((i) => i.webkitGetAsEntry?.()).filter((e): e is FileSystemEntry => !!e);
  if (!entries.length) return [];
  const out: File[] = [];
  const walk = async (entry: FileSystemEntry, prefix: string): Promise<void> => {
    if (entry.isFile) {
      const file = await new Promise<File>((resolve, reject) =>
        (entry as FileSystemFileEntry).file(resolve, reject),
      );
      out.push(prefix ? new File([file], `${prefix}${file.name}`, { type: file.type }) : file);
    } else if (entry.isDirectory) {
      const reader = (entry as FileSystemDirectoryEntry).createReader();
      for (;;) {
        const batch = await new Promise<FileSystemEntry[]>((resolve, reject) =>
          reader.readEntries(resolve, reject),
        );
        if (!batch.length) break;
        for (const child of batch) await walk(child, `${prefix}${entry.name}/`);
      }
    }
  };
  for (const e of entries) await walk(e, '');
  return out;
}

function send(url: string, file: File, onProgress: (loaded: number) => void): Promise<Result> {
  return new Promise((resolve) => {
    const xhr = new XMLHttpRequest();
    xhr.open('POST', url);
    xhr.withCredentials = true;
    xhr.upload.onprogress = (e) => onProgress(e.loaded);
    xhr.onload = () => {
      onProgress(file.size);
      if (xhr.status === 201 || xhr.status === 200) {
        try {
          resolve({
            state: xhr.status === 201 ? 'stored' : 'duplicate',
            image: JSON.parse(xhr.responseText) as Image,
          });
        } catch {
          resolve({ state: 'stored', image: { id: 0 } as Image });
        }
      } else if (xhr.status === 400 || xhr.status === 415 || xhr.status === 422)
        resolve({
          state: 'refused',
          reason: xhr.responseText.replace(/^[^:]*\.[A-Za-z0-9]+: /, '') || 'not valid DICOM',
        });
      else resolve({ state: 'failed', reason: describeFailure(xhr.status, xhr.responseText) });
    };
    xhr.onerror = () => resolve({ state: 'failed', reason: describeFailure(0, '') });
    const form = new FormData();
    form.append('file', file, file.name);
    xhr.send(form);
  });
}

const BADGES: Record<Result['state'], { color: string; label: string }> = {
  waiting: { color: 'gray', label: 'waiting' },
  sending: { color: 'blue', label: 'sending' },
  stored: { color: 'green', label: 'stored' },
  duplicate: { color: 'teal', label: 'duplicate (replaced)' },
  refused: { color: 'red', label: 'refused' },
  failed: { color: 'orange', label: 'failed' },
};

export function Uploader({ url, onFinished }: { url: string; onFinished?: () => void }) {
  const [items, setItems] = useState<Item[]>([]);
  const [active, setActive] = useState(false);
  const [busy, setBusy] = useState(false);
  const [loaded, setLoaded] = useState(0);
  const fileInput = useRef<HTMLInputElement>(null);
  const folderInput = useRef<HTMLInputElement>(null);
  const qc = useQueryClient();

  const upload = async (files: File[]) => {
    if (!files.length) return;
    const list: Item[] = files.map((file) => ({
      name: file.webkitRelativePath || file.name,
      size: file.size,
      file,
      result: { state: 'waiting' },
    }));
    setItems(list);
    setBusy(true);
    const progress = new Array<number>(list.length).fill(0);
    const update = (i: number, result: Result) => {
      list[i] = { ...list[i]!, result };
      setItems([...list]);
    };
    let next = 0;
    const worker = async () => {
      while (next < list.length) {
        const i = next++;
        update(i, { state: 'sending' });
        update(
          i,
          await send(url, list[i]!.file, (n) => {
            progress[i] = n;
            setLoaded(progress.reduce((a, b) => a + b, 0));
          }),
        );
      }
    };
    await Promise.all(Array.from({ length: Math.min(CONCURRENCY, list.length) }, worker));
    setBusy(false);
    void qc.invalidateQueries({ queryKey: ['metadata'] });
    void qc.invalidateQueries({ queryKey: ['imports'] });
    onFinished?.();
  };

  const total = items.reduce((n, i) => n + i.size, 0);
  const count = (s: Result['state']) => items.filter((i) => i.result.state === s).length;
  return (
    <Stack>
      <div
        className="drop-zone"
        data-active={active}
        onDragOver={(e) => {
          e.preventDefault();
          setActive(true);
        }}
        onDragLeave={() => setActive(false)}
        onDrop={async (e) => {
          e.preventDefault();
          setActive(false);
          if (busy) return;
          const files = await filesOf(e.dataTransfer.items);
          void upload(files.length ? files : [...e.dataTransfer.files]);
        }}
        data-testid="drop-zone"
      >
        <IconUpload size={32} aria-hidden />
        <Text fw={500}>Drop DICOM files or folders here</Text>
        <Text size="sm" className="dimmed-text" mb="sm">
          or choose them:
        </Text>
        <Group justify="center" gap="xs">
          <Button
            variant="default"
            leftSection={<IconUpload size={16} />}
            onClick={() => fileInput.current?.click()}
            disabled={busy}
          >
            Choose files
          </Button>
          <Button
            variant="default"
            leftSection={<IconFolderOpen size={16} />}
            onClick={() => folderInput.current?.click()}
            disabled={busy}
          >
            Choose a folder
          </Button>
        </Group>
        <input
          ref={fileInput}
          type="file"
          multiple
          hidden
          aria-label="Files to upload"
          data-testid="file-input"
          onChange={(e) => {
            void upload([...(e.currentTarget.files ?? [])]);
            e.currentTarget.value = '';
          }}
        />
        <input
          ref={folderInput}
          type="file"
          hidden
          aria-label="Folder to upload"
          {...({ webkitdirectory: '', directory: '' } as Record<string, string>)}
          onChange={(e) => {
            void upload([...(e.currentTarget.files ?? [])]);
            e.currentTarget.value = '';
          }}
        />
      </div>
      {items.length > 0 && (
        <>
          <div>
            <Group justify="space-between" mb={4}>
              <Text size="sm" aria-live="polite">
                {busy ? 'Uploading' : 'Finished'}: {items.length - count('waiting') - count('sending')} of{' '}
                {items.length} files ({bytes(Math.min(loaded, total))} of {bytes(total)})
              </Text>
              <Text size="sm">
                {count('stored')} stored · {count('duplicate')} duplicate · {count('refused')} refused ·{' '}
                {count('failed')} failed
              </Text>
            </Group>
            <Progress
              value={total ? (Math.min(loaded, total) / total) * 100 : 100}
              animated={busy}
              aria-label="Upload progress"
            />
          </div>
          <Table.ScrollContainer minWidth={420} mah={420}>
            <Table fz="sm" striped aria-label="Upload results">
              <Table.Thead>
                <Table.Tr>
                  <Table.Th>File</Table.Th>
                  <Table.Th>Size</Table.Th>
                  <Table.Th>Result</Table.Th>
                </Table.Tr>
              </Table.Thead>
              <Table.Tbody>
                {items.map((item, i) => (
                  <Table.Tr key={i} data-state={item.result.state}>
                    <Table.Td className="mono">{item.name}</Table.Td>
                    <Table.Td>{bytes(item.size)}</Table.Td>
                    <Table.Td>
                      <Group gap="xs" wrap="nowrap">
                        <Badge color={BADGES[item.result.state].color} variant="light">
                          {BADGES[item.result.state].label}
                        </Badge>
                        {'image' in item.result && item.result.image.seriesId ? (
                          <AppLink to={`/series/${item.result.image.seriesId}`}>open</AppLink>
                        ) : null}
                        {'reason' in item.result && (
                          <Text size="xs" c="red.9">
                            {item.result.reason}
                          </Text>
                        )}
                      </Group>
                    </Table.Td>
                  </Table.Tr>
                ))}
              </Table.Tbody>
            </Table>
          </Table.ScrollContainer>
        </>
      )}
    </Stack>
  );
}
