import { Badge, Progress, Text, Tooltip } from '@mantine/core';

const COLORS: Record<string, string> = {
  WAITING: 'gray',
  OPEN: 'gray',
  READY: 'blue',
  PROCESSING: 'blue',
  SENDING: 'blue',
  DELIVERING: 'blue',
  RETRY: 'yellow',
  FINISHED: 'green',
  SENT: 'green',
  FAILED: 'red',
  UNKNOWN: 'gray',
};

export function StatusBadge({ status }: { status: string }) {
  return (
    <Badge color={COLORS[status] ?? 'gray'} variant="light">
      {status.toLowerCase()}
    </Badge>
  );
}

export function Counted({ done, total, failed = 0 }: { done: number; total: number; failed?: number }) {
  return (
    <Tooltip label={`${done} of ${total}${failed ? `, ${failed} failed` : ''}`}>
      <div style={{ minWidth: 120 }}>
        <Progress.Root size="md">
          <Progress.Section
            value={total ? ((done - failed) / total) * 100 : 0}
            color="green"
            aria-label={`${done - failed} of ${total} done`}
          />
          <Progress.Section
            value={total ? (failed / total) * 100 : 0}
            color="red"
            aria-label={`${failed} of ${total} failed`}
          />
        </Progress.Root>
        <Text size="xs">
          {done}/{total}
          {failed ? ` (${failed} failed)` : ''}
        </Text>
      </div>
    </Tooltip>
  );
}
