import type PgBoss from 'pg-boss';
import { GroupCommit } from '../db/group-commit.ts';

/**
 * The queue's jobs that look at runs again later, should the replica executing them die (PipelineEngine's safety
 * net): the runs started while one insert is written go together in the next, one statement for many (a rollout
 * wrote one per run, a tenth of its statements after its steps).
 */
export class SafetyNetJobs {
  private readonly jobs: GroupCommit<string, void>;

  constructor(boss: PgBoss, queue: string, delaySeconds: number) {
    this.jobs = new GroupCommit(
      async (ids) => {
        // `startAfter` as an interval: the job's time is the database's now() plus it, as send() does.
        await boss.insert(ids.map((id) => ({ name: queue, data: { pipelineId: id }, singletonKey: id, startAfter: `${delaySeconds} seconds` })));
        return ids.map(() => undefined);
      },
      (id) => id,
    );
  }

  /** Resolves once the run's job is written (a job already waiting for it is kept as it is). */
  add(pipelineId: string): Promise<void> {
    return this.jobs.write(pipelineId);
  }
}
