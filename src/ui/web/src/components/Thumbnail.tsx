import { useState } from 'react';
import { Center, Text } from '@mantine/core';

/** The series' middle image, 128 px, from `GET /api/series/{id}/thumbnail`; a label when it cannot be rendered. */
export function Thumbnail({ seriesId, small, alt }: { seriesId: number; small?: boolean; alt: string }) {
  const [failed, setFailed] = useState(false);
  const cls = small ? 'thumb thumb-small' : 'thumb';
  if (failed)
    return (
      <Center className={cls} title="No preview for this series">
        <Text size="xs" c="gray.4">
          no preview
        </Text>
      </Center>
    );
  return (
    <img
      className={cls}
      src={`/api/series/${seriesId}/thumbnail`}
      alt={alt}
      loading="lazy"
      onError={() => setFailed(true)}
    />
  );
}
